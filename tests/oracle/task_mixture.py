#!/usr/bin/env python3
"""Oracle: the lines of FILE... in the order nanochat's TaskMixture
(tasks/common.py) lists them: the (task, row) pairs of every file in input
order, shuffled once with Python's random.Random(seed), a file listed twice
being two tasks. With --nanochat DIR, nanochat's own TaskMixture class from
DIR/tasks/common.py does it (it seeds with 42 only; needs no torch).
Lines are bytes, written back with their newline.

usage: task_mixture.py [--seed=N | --nanochat DIR] FILE...
"""
import random
import sys


def read_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def mixed(tasks, seed):
    index_map = [(t, i) for t, rows in enumerate(tasks) for i in range(len(rows))]
    random.Random(seed).shuffle(index_map)
    return [tasks[t][i] for t, i in index_map]


def nanochat_mixed(nanochat_dir, tasks):
    sys.path.insert(0, nanochat_dir)
    from tasks.common import Task, TaskMixture

    class Lines(Task):
        def __init__(self, rows):
            super().__init__()
            self.rows = rows

        def num_examples(self):
            return len(self.rows)

        def get_example(self, index):
            return self.rows[index]

    mix = TaskMixture([Lines(rows) for rows in tasks])
    return [mix[i] for i in range(len(mix))]


def main():
    args, seed, nanochat = sys.argv[1:], 42, None
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt.startswith("--seed="):
            seed = int(opt[len("--seed="):])
        elif opt == "--nanochat":
            nanochat = args.pop(0)
        else:
            sys.exit(__doc__.strip().splitlines()[-1])
    tasks = [read_lines(p) for p in args]
    rows = nanochat_mixed(nanochat, tasks) if nanochat else mixed(tasks, seed)
    sys.stdout.buffer.write(b"".join(r + b"\n" for r in rows))


if __name__ == "__main__":
    main()
