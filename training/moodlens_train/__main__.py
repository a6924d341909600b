"""``python -m moodlens_train <command> ...``: train, export, evaluate or summary (each also runs on its own,
e.g. ``python -m moodlens_train.train``)."""

import sys

COMMANDS = ("train", "export", "evaluate", "summary")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(f"usage: python -m moodlens_train {{{','.join(COMMANDS)}}} [--help] ...", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    command, rest = argv[0], argv[1:]
    if command == "train":
        from .train import main as run
    elif command == "export":
        from .export import main as run
    elif command == "evaluate":
        from .evaluate import main as run
    else:
        from .summary import main as run
    return run(rest)


if __name__ == "__main__":
    sys.exit(main())
