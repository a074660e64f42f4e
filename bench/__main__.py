"""``python -m bench run [--quick] [--only B1,B3]``: see bench/run.py."""

from bench.run import main

main()
