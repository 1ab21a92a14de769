#!/usr/bin/env python3
"""Which functions a fuzz target's corpus reaches, and how much of each (issue #16): a
target whose inputs all stop at an early return shows a healthy `cov:` figure from its own
harness and the libraries, yet never runs the parser it claims to test.

    python3 scripts/fuzz-reach.py cursor               # functions of latch, latch_verify
    python3 scripts/fuzz-reach.py dpop 'latch_verify::dpop'
    python3 scripts/fuzz-reach.py registration latch:: fuzz/corpus/registration

Prints "covered/instrumented" edges per function matching the pattern (a regular
expression over demangled names), for the working corpus under FUZZ_TARGET_DIR (default
/var/tmp/latch-fuzz-target, as scripts/fuzz.sh leaves it) or the corpus directories given.
Needs a build from scripts/fuzz.sh and binutils (readelf, nm).

How: libFuzzer's merge pass writes, per input, the indices of the PCs it covered
(`COV` lines of -merge_control_file); the index is a position in the binary's
`__sancov_pcs` table, whose entries are relocated addresses (R_X86_64_RELATIVE, the
binary is position independent); `nm` maps an address to its function. No symbolizer is
needed, which libFuzzer without a sanitizer runtime does not have.
"""

import bisect
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile


def run(*args):
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def pc_table(binary):
    """PC index -> address, from the relocations of the __sancov_pcs section."""
    section = next(l for l in run("readelf", "-SW", binary).splitlines() if "__sancov_pcs" in l)
    fields = section.split("]", 1)[1].split()
    start, size = int(fields[2], 16), int(fields[4], 16)
    pcs = {}
    for line in run("readelf", "-rW", binary).splitlines():
        f = line.split()
        if len(f) >= 4 and f[2] == "R_X86_64_RELATIVE":
            off = int(f[0], 16)
            # Entries are (pc, flags) pairs of 8 bytes each.
            if start <= off < start + size and (off - start) % 16 == 0:
                pcs[(off - start) // 16] = int(f[3], 16)
    return pcs, size // 16


def function_of(binary):
    syms = []
    for line in run("nm", "-C", "-S", "--defined-only", binary).splitlines():
        f = line.split(" ", 3)
        if len(f) == 4 and f[2] in "tTwW":
            syms.append((int(f[0], 16), int(f[1], 16), f[3]))
    syms.sort()
    starts = [s[0] for s in syms]

    def lookup(pc):
        i = bisect.bisect_right(starts, pc) - 1
        if i >= 0 and syms[i][0] <= pc < syms[i][0] + syms[i][1]:
            return syms[i][2]
        return "?"

    return lookup


def main():
    # `| head` closes the pipe early; that is not an error.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    target = sys.argv[1]
    pattern = re.compile(sys.argv[2] if len(sys.argv) > 2 else r"latch::|latch_verify::")
    build = os.environ.get("FUZZ_TARGET_DIR", "/var/tmp/latch-fuzz-target")
    host = next(l.split()[1] for l in run("rustc", "-vV").splitlines() if l.startswith("host:"))
    binary = os.path.join(build, host, "release", target)
    corpora = sys.argv[3:] or [os.path.join(build, "corpus", target)]

    pcs, total_pcs = pc_table(binary)
    lookup = function_of(binary)
    work = tempfile.mkdtemp()
    try:
        control = os.path.join(work, "control")
        os.mkdir(os.path.join(work, "out"))
        subprocess.run(
            [binary, "-merge=1", "-merge_control_file=" + control, os.path.join(work, "out")]
            + corpora,
            capture_output=True,
            check=False,
        )
        covered = set()
        with open(control) as f:
            for line in f:
                if line.startswith("COV "):
                    covered.update(int(x) for x in line.split()[2:])
    finally:
        shutil.rmtree(work)

    total = collections.Counter(lookup(pc) for pc in pcs.values())
    hit = collections.Counter(lookup(pcs[i]) for i in covered if i in pcs)
    print(f"{target}: {len(covered)} of {total_pcs} instrumented PCs covered")
    for name in sorted(total, key=lambda n: (-hit[n], n)):
        if pattern.search(name) and "drop_glue" not in name:
            print(f"{hit[name]:6d}/{total[name]:<6d} {name}")


if __name__ == "__main__":
    main()
