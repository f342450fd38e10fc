"""One module per ``usanimator`` subcommand: ``add_parser(subparsers)`` and ``run(args) -> int``.

Modules import their heavy dependencies (torch, Qt) inside ``run`` so that ``--help`` stays fast.
"""
