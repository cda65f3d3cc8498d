"""Drive a program in a pseudo-terminal, as a person at a terminal would.

pty_chat.py TIMEOUT STEP... -- COMMAND [ARG...] runs COMMAND with a new
pseudo-terminal as its stdin, stdout and stderr, and takes the steps in
order: "expect:TEXT" reads until TEXT has appeared (since the last expect),
"send:TEXT" types TEXT ("\\n" is Enter), "sigint" sends SIGINT to the
program, "ctrl-c" types Ctrl-C (the terminal sends SIGINT when its line
discipline has signals on, else the program reads the character). Everything the program wrote goes to stdout, then
a last line "exit=N". Fails (exit 1) when a step times out.
"""
import os
import pty
import select
import signal
import sys
import time


def read_until(fd, want, deadline, seen):
    while want not in seen[0]:
        left = deadline - time.time()
        if left <= 0:
            return False
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return want in seen[0]
            if not chunk:
                return want in seen[0]
            seen[0] += chunk
            seen[1] += chunk
    # later expects look only at what comes after this one
    seen[0] = seen[0][seen[0].index(want) + len(want):]
    return True


def main():
    timeout = float(sys.argv[1])
    split = sys.argv.index("--")
    steps, cmd = sys.argv[2:split], sys.argv[split + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    deadline = time.time() + timeout
    seen = [b"", b""]   # unmatched tail, everything
    for step in steps:
        kind, _, arg = step.partition(":")
        if kind == "expect" and not read_until(fd, arg.encode(), deadline, seen):
            os.kill(pid, signal.SIGKILL)
            sys.stdout.buffer.write(seen[1][-2000:])
            sys.exit(f"\npty_chat.py: timed out waiting for {arg!r}")
        elif kind == "send":
            os.write(fd, arg.replace("\\n", "\n").encode())
        elif kind == "sigint":
            os.kill(pid, signal.SIGINT)
        elif kind == "ctrl-c":
            os.write(fd, b"\x03")
    read_until(fd, b"\0never", deadline, seen)
    _, status = os.waitpid(pid, 0)
    sys.stdout.buffer.write(seen[1])
    print(f"\nexit={os.waitstatus_to_exitcode(status)}")


main()
