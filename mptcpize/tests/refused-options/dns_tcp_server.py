# A DNS server over TCP for `dig +tcp` (mptcpize/tests/programs.rs): answers every query
# with one A record, 127.0.0.1. Usage: dns_tcp_server.py PORT
import socket, struct, sys
def recvall(c, n):
    b = b""
    while len(b) < n:
        chunk = c.recv(n - len(b))
        if not chunk:
            raise EOFError
        b += chunk
    return b
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(8)
while True:
    c, _ = srv.accept()
    try:
        while True:
            (n,) = struct.unpack("!H", recvall(c, 2))
            q = recvall(c, n)
            end = 12
            while q[end] != 0:
                end += 1 + q[end]
            question = q[12 : end + 5]
            answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([127, 0, 0, 1])
            r = q[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + question + answer
            c.sendall(struct.pack("!H", len(r)) + r)
    except (EOFError, ConnectionError):
        c.close()
