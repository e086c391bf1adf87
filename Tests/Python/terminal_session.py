"""Types keys into a program running on a pseudo-terminal, as a person at a terminal would.

usage: terminal_session.py KEYS_JSON PROGRAM [ARG...]
KEYS_JSON is a list of [text, seconds]: each text is written to the terminal, then the script reads
what the terminal shows for that many seconds. Everything shown is printed to stdout at the end; the
exit status is the program's (124 if it had to be killed after the last key).

Used by the workspace tests for what needs a real terminal: Ctrl-C reaching the foreground command,
a full-screen editor. (util-linux `script` with a pipe as its input is not a terminal user: it did
not deliver Ctrl-C to the foreground process group here.)
"""
import json
import os
import pty
import select
import signal
import sys
import time


def main():
    keys = json.loads(sys.argv[1])
    pid, fd = pty.fork()
    if pid == 0:
        # What a terminal's user has: default signal dispositions and nothing blocked (the test
        # runner that started us may ignore or block some, and exec keeps both).
        for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGPIPE, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.execvp(sys.argv[2], sys.argv[2:])
    shown = bytearray()

    def read_for(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    return False
                if not chunk:
                    return False
                shown.extend(chunk)
        return True

    for text, seconds in keys:
        os.write(fd, text.encode())
        if not read_for(seconds):
            break
    # The program should be on its way out; give it a little time, then end it.
    deadline = time.monotonic() + 20
    status = None
    while time.monotonic() < deadline:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(raw)
            break
        read_for(0.1)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        status = 124
    read_for(0.2)
    sys.stdout.write(shown.decode(errors="replace"))
    sys.exit(status if status >= 0 else 128 - status)


if __name__ == "__main__":
    main()
