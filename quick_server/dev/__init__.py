"""Development tools: watching and restarting, live reload, the command loop and development certificates. They plug into the core; the core never imports them."""
