#!/usr/bin/env python3
"""Raw TCP throughput between emulated host 1 and host 2, to check scripts/multihost.sh's tc
shaping apart from any MPI or gloo protocol. Run on every host:

  scripts/multihost.sh --rate 1gbit --no-doctor --each-host -- python3 bench/tcp_throughput.py [--duplex]

Host 2 sends to host 1 over one TCP connection for --seconds (default 5); with --duplex host 1
sends to host 2 at the same time on the same connection. Each receiving host prints its rate.
Uses HOST_INDEX and MASTER_ADDR (host 1's address) from multihost.sh; other hosts do nothing.
"""
import argparse
import os
import socket
import threading
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--duplex", action="store_true")
    ap.add_argument("--port", type=int, default=5201)
    args = ap.parse_args()
    index, master = int(os.environ["HOST_INDEX"]), os.environ["MASTER_ADDR"]
    if index > 2:
        return
    chunk = b"x" * (1 << 20)

    if index == 1:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((master, args.port))
        server.listen(1)
        conn, _ = server.accept()
    else:
        for _ in range(100):
            try:
                conn = socket.create_connection((master, args.port))
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("tcp_throughput: cannot connect to host 1")

    received = []

    def receive():
        n, start = 0, None
        while True:
            data = conn.recv(1 << 20)
            if not data:
                break
            if start is None:
                start = time.perf_counter()
            n += len(data)
        received.append((n, time.perf_counter() - start if start else 0))

    receiver = threading.Thread(target=receive)
    receiver.start()
    if index == 2 or args.duplex:
        end = time.perf_counter() + args.seconds
        while time.perf_counter() < end:
            conn.sendall(chunk)
    conn.shutdown(socket.SHUT_WR)
    receiver.join()
    n, seconds = received[0]
    if n:
        print(f"host {index} received {n / seconds * 8 / 1e9:.3f} Gbit/s ({n / seconds / 1e6:.1f} MB/s, "
              f"{n / 1e6:.0f} MB in {seconds:.1f} s{', both directions at once' if args.duplex else ''})")


if __name__ == "__main__":
    main()
