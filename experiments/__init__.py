"""Experiment tooling above the methods: the run kinds (`kinds`: each launcher and its method's readers of a work dir),
sweeps of launcher runs (`sweep`) and a work dir as one HTML page (`report`). The only layer that knows the
launchers; may import `datasynth`, `softsrv` and `nomad`."""
