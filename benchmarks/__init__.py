"""Benchmarks of the two engines: :mod:`benchmarks.bench_ops` (op by op), :mod:`benchmarks.bench_train`
(training step and epoch), :mod:`benchmarks.plot` (PNG charts from their JSON); shared tools in
:mod:`benchmarks.timing`. See benchmarks/README.md."""
