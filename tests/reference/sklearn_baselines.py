#!/usr/bin/python3
"""Baselines for the accuracy targets of the train (and ntk) kinds: scikit-learn's
MLPClassifier and RBF SVC on exactly the split tangentd uses ({"builtin": NAME,
"standardize": true}: the default stratified 80/20 split with split_seed 0, reimplemented
independently in data_ref.py). Writes sklearn_baselines.json (informational; the C tests
assert tangentd's own accuracies). Run: /usr/bin/python3 tests/reference/sklearn_baselines.py
"""
import json
import os
import sys

import numpy as np
import sklearn
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

sys.path.insert(0, os.path.dirname(__file__))
import data_ref  # noqa: E402

out = {"sklearn": sklearn.__version__, "split": "builtin default (test_fraction 0.2, split_seed 0), standardize", "datasets": {}}
for name in ("digits", "breast_cancer", "wine", "iris"):
    ds, _ = data_ref.resolve({"builtin": name, "standardize": True})
    x, y = np.array(ds["x"], float), np.array(ds["y"])
    xt, yt = np.array(ds["x_test"], float), np.array(ds["y_test"])
    res = {"n_train": len(y), "n_test": len(yt)}
    accs = []
    for seed in range(5):
        mlp = MLPClassifier(hidden_layer_sizes=(64, 64), solver="adam", learning_rate_init=0.001,
                            alpha=0.001, batch_size=32, max_iter=200, random_state=seed)
        mlp.fit(x, y)
        accs.append(float(mlp.score(xt, yt)))
    res["mlp_classifier_64x64_adam"] = {"seeds": accs, "mean": float(np.mean(accs))}
    res["svc_rbf_default"] = float(SVC(kernel="rbf").fit(x, y).score(xt, yt))
    out["datasets"][name] = res
    print(name, res)
json.dump(out, open(os.path.join(os.path.dirname(__file__), "sklearn_baselines.json"), "w"), indent=1)
