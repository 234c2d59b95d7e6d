#!/usr/bin/env bash
# Adds to ./.whl (the repo root's wheel folder, see ../shared/device/fetch-wheels.sh, run that first)
# the Python 3.12 wheels bench/peers.py needs on the lent GPU machine: CodeCarbon and Zeus
# (bench/requirements-peers.txt) and those of their dependencies that machine's image lacks (its
# package list: the device notes' KINDS.md, 2026-11-17). Versions as resolved on 2026-11-27.
# A package already in .whl (from fetch-wheels.sh) is not fetched again: two versions stop the install.
# About 22 MB, so .whl stays inside the 64 MiB a device call may carry.
set -euo pipefail
dir=${WHL_DIR:-.whl}
mkdir -p "$dir"
[ "$dir" != .whl ] || grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
norm() { echo "$1" | tr 'A-Z-' 'a-z_'; }
have=" $(for w in "$dir"/*.whl; do if [ -e "$w" ]; then norm "$(basename "$w" | cut -d- -f1)"; fi; done | tr '\n' ' ') "
for spec in codecarbon==3.3.2 zeus==0.16.0 amdsmi==7.0.2 annotated-types==0.8.0 arrow==1.4.0 authlib==1.9.10 \
    cffi==2.1.1 cryptography==50.0.2 docstring-parser==0.18.0 joserfc==1.8.0 prompt-toolkit==3.0.53 \
    pycountry==26.2.16 pycparser==3.12 pydantic==2.14.4 pydantic-core==2.50.5 questionary==2.1.1 \
    rapidfuzz==3.14.6 typeguard==4.6.1 typing-inspection==0.4.5 tyro==1.0.17 tzdata==2026.6 wcwidth==0.9.4; do
  name=$(norm "${spec%%==*}")
  case "$have" in *" $name "*) echo "already in $dir: $name"; continue;; esac
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux_2_12_x86_64 --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 \
    -d "$dir" "$spec" 2>&1 | grep -v "is ignored" || true
done
echo "$(ls "$dir" | wc -l) wheels, $(du -sh "$dir" | cut -f1) in $dir"
