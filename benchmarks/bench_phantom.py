"""Phantom speed: frames per second at a given size, rendering alone and end to end (clip set-up included).

    .venv/bin/python benchmarks/bench_phantom.py [--size 256] [--frames 48] [--clips 3]

Prints one line per measure plus the machine's load average, since other work shares the CPU.
"""

from __future__ import annotations

import argparse
import os
import time

from usanimator_app.core.phantom import PhantomParams, PhantomSimulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--clips", type=int, default=3)
    args = parser.parse_args()

    setup_s = render_s = 0.0
    for seed in range(args.clips):
        start = time.perf_counter()
        sim = PhantomSimulator(PhantomParams(size=args.size, frames=args.frames, seed=seed, peak_descent_mm=20.0))
        middle = time.perf_counter()
        for frame in range(args.frames):
            sim.frame(frame)
        end = time.perf_counter()
        setup_s += middle - start
        render_s += end - middle
    frames = args.clips * args.frames
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"phantom {args.size}x{args.size}, {args.clips} clips x {args.frames} frames, {os.cpu_count()} CPUs, load average {load}")
    print(f"  rendering:  {frames / render_s:6.1f} frames/s ({render_s / frames * 1000:.1f} ms/frame, {len(sim.ref_xy)} scatterers)")
    print(f"  end to end: {frames / (setup_s + render_s):6.1f} frames/s (set-up {setup_s / args.clips:.2f} s per clip)")


if __name__ == "__main__":
    main()
