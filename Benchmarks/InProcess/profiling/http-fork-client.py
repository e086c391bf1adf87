# One keep-alive HTTP/1.1 connection to afs-server: import a tar, then N forks; prints p50/p90 (client-timed).
# usage: python3 http-fork-client.py PORT TOKEN N TAR
import http.client, json, socket, sys, time, statistics
port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port); c.connect()
c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
h = {"Authorization": f"Bearer {token}"}
body = open(sys.argv[4], "rb").read()
c.request("POST", "/v1/sessions/import", body=body, headers={**h, "Content-Type": "application/x-tar"})
r = c.getresponse(); data = r.read(); assert r.status in (200, 201), (r.status, data[:200])
sid = json.loads(data)["id"]
ts = []
for i in range(n):
    t = time.perf_counter_ns()
    c.request("POST", f"/v1/sessions/{sid}/fork", headers=h)
    r = c.getresponse(); d = r.read(); assert r.status in (200, 201), (r.status, d[:200])
    ts.append((time.perf_counter_ns() - t) / 1000)
ts.sort()
print(f"{n} forks over HTTP: p50 {ts[n//2]:.0f} µs, p90 {ts[int(n*.9)]:.0f} µs, min {ts[0]:.0f} µs")
