"""Pure analysis over arrays of scores: metrics, calibrations (the registry in
calibrations/), a run's results, bootstrap intervals, stability, quantization ladders and
bias diagnosis. Imports nothing from the store, the engine or the interfaces."""
