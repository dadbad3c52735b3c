"""Why the client refused the scheduler's certificate, in words, and told the scheduler so:
the twin of common/tls/server_check.h, which says why this exists. gRPC's client reports such
a refusal only as "handshake failed" and hangs up without the TLS alert, so after one the
client connects once more with Python's ``ssl`` module, verifying against the same CA and
name. That handshake fails the same way, sends the scheduler the alert that its audit log
records, and says what was wrong. It sends no credentials and nothing after the handshake."""

import socket
import ssl


def _advice(code, tls_name):
    if code in (62, 64):  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
        return (f"{tls_name} is not one of its names: connect by a name it carries, or "
                f"reissue it with deploy/certs.sh --server {tls_name}")
    if code in (9, 10):  # X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED
        return "reissue the scheduler's certificate (deploy/certs.sh), or check this host's clock"
    return ("give the CA that signed the scheduler's certificate (the ca.pem deploy/certs.sh "
            "made with it), or something other than the farm's scheduler is answering there")


def check_server_certificate(ip, port, tls_name, ca_pem, ca_source, timeout):
    """``None`` when the certificate at ``ip:port`` verifies against ``ca_pem`` (bytes; the
    system's CA certificates when empty) for ``tls_name``, or when there is no verdict
    (nothing answers, another failure, the timeout): else what was wrong, in words."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if ca_pem:
            context.load_verify_locations(cadata=ca_pem.decode("ascii", "replace"))
        else:
            context.load_default_certs()
    except (ssl.SSLError, ValueError):
        return None  # no verdict: the CA was checked when the channel was made
    shown = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    try:
        with socket.create_connection((ip, int(port)), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=tls_name):
                return None
    except ssl.SSLCertVerificationError as e:
        return (f"the scheduler at {shown} presented a certificate that {ca_source} does not "
                f"trust: {e.verify_message}; {_advice(e.verify_code, tls_name)}")
    except (OSError, ValueError):
        return None
