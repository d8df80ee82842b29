"""The HTTP core: the wire format, requests, answers, routing, static files, CORS, compression, error pages, the proxy and the connections. It imports nothing of the jobs or the development tools."""
