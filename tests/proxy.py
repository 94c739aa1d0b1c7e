"""A TCP proxy for fault injection: put it between mailflow and Dovecot, then cut
every connection (``drop()``) to see the service reconnect, cut each connection
after a number of bytes from the server (``cut_after``: a link that breaks in the
middle of a large FETCH), or stall the server's side (``stall()``: an IDLE that
goes silent without a FIN)."""

from __future__ import annotations

import socket
import threading

from servers import free_ports


class Proxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self.port = free_ports()[0]
        self.connections = 0
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._server = socket.create_server((self.host, self.port))
        self._stopping = False
        self.cut_after: int | None = None  # reset each connection after this many bytes from the server
        self._stalled: set[int] = set()  # ids of connections whose server side is silenced
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Proxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping = True
        self._server.close()
        self.drop()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self.connections += 1
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, from_server: bool = False) -> None:
        passed = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_server and id(src) in self._stalled:
                    continue  # swallowed: the client hears nothing, and no FIN either
                if from_server and self.cut_after is not None and passed + len(data) > self.cut_after:
                    dst.sendall(data[:max(self.cut_after - passed, 0)])
                    for s in (src, dst):
                        try:  # shutdown wakes the other direction's recv; close then resets
                            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                            s.shutdown(socket.SHUT_RDWR)
                            s.close()
                        except OSError:
                            pass
                    return
                passed += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stall(self) -> int:
        """Silence the server side of every open connection: what it sends is dropped,
        and the connection stays open (an IDLE that died without a FIN). New
        connections are not affected. Returns how many were stalled."""
        with self._lock:
            self._stalled.update(id(upstream) for _client, upstream in self._pairs)
            return len(self._pairs)

    def drop(self) -> int:
        """Reset every open connection (as a NAT timeout or a server restart would)."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for s in (a, b):
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    s.close()
                except OSError:
                    pass
        return len(pairs)
