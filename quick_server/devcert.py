"""Development certificates for HTTPS (`certfile="auto"`): the documented
name of `quick_server.dev.devcert`."""
from .dev.devcert import DevCertError, dev_certificate

__all__ = ["DevCertError", "dev_certificate"]
