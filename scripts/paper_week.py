"""The README's paper-trail example, for a week of data cut day by day: what a user does after each close.

    python scripts/paper_week.py                  # into a new temporary folder (printed)
    python scripts/paper_week.py --out paperweek  # or a folder of your own

Runs the ``lstmtrade`` commands a user runs, on the bundled ``sample:SP500`` (offline):

1. ``lstmtrade backtest --data sample:SP500 --end 2018-01-26`` (the run the paper record is compared with;
   ``--no-baselines`` to save time, which changes nothing the comparison uses);
2. ``lstmtrade train --data sample:SP500 --end 2018-01-26 --model-out sp500.pt`` with the same settings;
3. after each close from 2018-01-26 to 2018-02-05, ``lstmtrade signal --model sp500.pt --end DAY --journal
   paper`` (``--end`` stands in for the file growing by one day: rows after it are never read);
4. ``lstmtrade paper paper --runs reports``, which credits every entry whose next two opens are in the data
   (the sample ends 2018-02-07, the second open after 2018-02-05, so all 7 are credited) and writes
   ``paper/paper.csv`` and ``paper/paper.html``: open the page to see the record, the backtest's band and the alarms.

The week is back-filled on purpose (every signal is written today, years after its date), so the record is not
a forward one, and ``paper`` says so: the page and the output show the ``back_filled`` alarm ("7 entries written
after their first fill"), and every row of ``paper.csv`` has ``forward`` False. Run day by day after each close,
the same commands make a forward record without it.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAYS = ["2018-01-26", "2018-01-29", "2018-01-30", "2018-01-31", "2018-02-01", "2018-02-02", "2018-02-05"]


def lstmtrade(*args: str, quiet: bool = False) -> str:
    """Run one command as a user would; stop on failure with its own message."""
    exe = shutil.which("lstmtrade")
    command = [exe] if exe else [sys.executable, "-c", "from lstmtrade.cli import main; main()"]
    t = time.perf_counter()
    run = subprocess.run([*command, *args], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"lstmtrade {' '.join(args)} failed:\n{run.stderr}")
    if not quiet:
        print(f"$ lstmtrade {' '.join(args)}   ({time.perf_counter() - t:.1f} s)")
    return run.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="folder for the run, the model and the journal (default: a new temporary one)")
    args = parser.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="lstmtrade-paper-week-"))
    out.mkdir(parents=True, exist_ok=True)
    if (out / "paper" / "journal.jsonl").exists():
        sys.exit(f"{out / 'paper'} already holds a journal: give another --out (a journal is never rewritten)")
    data = ["--data", "sample:SP500", "--end", DAYS[0]]
    lstmtrade("backtest", *data, "--no-baselines", "--out", str(out / "reports"), "-q")
    lstmtrade("train", *data, "--model-out", str(out / "sp500.pt"), "-q")
    for day in DAYS:
        table = lstmtrade("signal", "--model", str(out / "sp500.pt"), "--end", day, "--journal", str(out / "paper"))
        held = [line for line in table.splitlines() if line.strip().endswith("+0.100")]
        print(f"    {day}: {len(held)} names held from the next open, first {held[0].split()[1] if held else '-'}")
    print(lstmtrade("paper", str(out / "paper"), "--runs", str(out / "reports")))
    print(f"open {out / 'paper' / 'paper.html'}")


if __name__ == "__main__":
    main()
