"""The benchmark suite (issue 7): replicator against a plain pyarrow baseline.

``python -m tests.benchmarks [--scale 1.0] [--only jsonl,csv,...] [--runs 3]`` generates seeded
corpora into ``bench-data/`` (reused while seed and scale match), runs each case as interleaved
subprocesses, and prints the results table, also written to ``bench-results/results.md`` and
``results.json``. ``--help`` lists the options.

Modules: ``synth`` (seeded rows), ``corpus`` (files and manifests), ``baseline`` (the pyarrow
baseline, also a command), ``measure`` (one measured child process), ``cases`` and ``plan``
(what is measured), ``suite`` (running and checking), ``s3`` (moto on loopback), ``report``.
"""
