#!/usr/bin/env bash
# The speed targets of one sitting (~10 min on 2 cores), each script timing its
# peer in the same run: dense export and its name, one big file over two workers,
# source text and its cached rescan and --min-confidence low, /usr/share without
# and with OCR, screenshots. Run from the checkout after `make setup`; output on
# stdout (send it to a file). Quiet the machine first: the ratios are of wall time.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
# stdlib + site-packages of the interpreter the venv was made from: a real source tree.
SRC=${SRC:-$("$PY" -c 'import sys, sysconfig; print(sysconfig.get_paths(vars={"base": sys.base_prefix})["stdlib"])')}
step() { printf '\n== %s (%s, load %s)\n' "$1" "$(date -u +%H:%M:%S)" "$(cut -d' ' -f1-3 /proc/loadavg)"; }

step "dense export, by name and renamed"
"$PY" bench/bench_export.py --size-mb 80
step "one 1 GB file, --jobs 1 and 2"
"$PY" bench/bench_split.py --size-mb 1024
step "source text $SRC: first scan, --cache rescan, low, kingfisher"
"$PY" bench/bench_scale.py "$SRC" --rounds 2 --low --no-detect-secrets
step "/usr/share --no-ocr"
"$PY" bench/bench_scale.py /usr/share --rounds 2 --no-detect-secrets --scan-arg=--no-ocr
step "/usr/share with OCR"
"$PY" bench/bench_scale.py /usr/share --rounds 2 --no-detect-secrets
step "screenshots"
"$PY" bench/bench_images.py --screens 24 --jobs 2
step "done"
