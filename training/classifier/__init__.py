"""The self-regulated CNN classifier (Pérez-Galarce et al. 2025) and its baseline.

One module, one job:
- `model`      VariableStarCNN (two towers, Xavier, input scaling inside the graph);
- `masks`      mask1/mask2 over every weight tensor and the MaskedOptimizer that keeps
               real and synthetic updates disjoint (optimiser state included);
- `losses`     CE, weighted CE, focal;
- `policies`   the five confusion policies (per-class counts of a synthetic batch);
- `data`       featurising labelled curves, splits, window augmentation, SyntheticSource;
- `augment`    survey augmentation: nightly / thinned / noisier views of training curves;
- `trainer`    the loop (two-losses and one-loss);
- `export`     ONNX + model card + parity;
- `metrics`, `evaluate`, `plots`, `experiment`, `run` (the `training train` pipeline);
- `cli`        `training train | evaluate | experiment`.
"""
