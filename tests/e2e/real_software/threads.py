# Python threads parked the way services park them: time.sleep, Queue.get,
# Event.wait, socket accept, select. Prints "ready" once they are parked,
# then waits for stdin to close (the main thread blocks in read()).
import os
import queue
import select
import socket
import sys
import threading
import time

q = queue.Queue()
ev = threading.Event()
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
r, w = os.pipe()

threads = [
    threading.Thread(target=time.sleep, args=(3600,), daemon=True),
    threading.Thread(target=q.get, daemon=True),
    threading.Thread(target=ev.wait, daemon=True),
    threading.Thread(target=srv.accept, daemon=True),
    threading.Thread(target=select.select, args=([r], [], []), daemon=True),
]
for t in threads:
    t.start()
time.sleep(0.3)
print("ready", flush=True)
sys.stdin.buffer.read()
os._exit(0)
