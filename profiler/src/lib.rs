//! hue-profiler: reads `.hue` traces into per-handler, color and worker statistics, safety
//! verdicts, speedup predictions and recoloring suggestions. Nothing is implemented yet.
