#!/usr/bin/env python3
"""check_openapi.py: checks api/openapi.yaml, the tangentd API contract (not part of
`make test`; run it by hand or in review after editing the document):

    python3 tests/reference/check_openapi.py [--yaml2json PATH] [--verbose]

1. the YAML parses (yaml.safe_load) and is JSON-representable (no YAML 1.1-only
   values such as timestamps, which YAML 1.2 and so tools/yaml2json read as strings);
2. every `$ref` resolves, every discriminator mapping points into its oneOf, and the
   OpenAPI 3.0 rules this file relies on hold (exclusiveMinimum is a boolean beside a
   minimum, nullable only beside a type, arrays have items, no 3.1-only keywords,
   path parameters declared, operationIds unique, X-Request-Id on every response);
3. every `default` and `example` validates against its own schema (a small validator
   of the OpenAPI 3.0 schema subset used here);
4. sample requests are accepted or rejected by JobSubmission as the contract says
   (unknown and inapplicable fields are 400s);
5. tools/yaml2json (built with `make build/tools/yaml2json` if missing) gives JSON
   equal to Python's yaml.safe_load of the document, with identical types, and passes
   a few conversion cases of its own (anchors, core-schema typing, errors);
6. when the Python package openapi-spec-validator is importable, the document
   passes its OpenAPI 3.0 validation (skipped otherwise).

Exits 0 when everything passes; prints `N passed, M failed`.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOC_PATH = os.path.join(ROOT, "api", "openapi.yaml")

passed = 0
failed = 0
verbose = False


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        if verbose:
            print("ok   " + what)
    else:
        failed += 1
        print("FAIL " + what)
    return ok


# ---- JSON pointers and $ref -------------------------------------------------------------

def resolve(doc, ref):
    if not ref.startswith("#/"):
        raise KeyError("only local refs are used: " + ref)
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(part)]
        else:
            node = node[part]
    return node


def walk(node, path=""):
    """Yields (path, node) for every dict in the document."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, path + "/" + str(k).replace("~", "~0").replace("/", "~1"))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, path + "/" + str(i))


def is_schema_path(path):
    """Heuristic: the dicts under components/schemas and under any 'schema' key."""
    return "/schemas/" in path or "/schema" in path


# ---- a validator for the OpenAPI 3.0 schema subset used in the document ------------------

def same(a, b):
    """JSON equality with types (True != 1, 1 == 1.0 as JSON numbers)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def type_ok(inst, t):
    if t == "object":
        return isinstance(inst, dict)
    if t == "array":
        return isinstance(inst, list)
    if t == "string":
        return isinstance(inst, str)
    if t == "boolean":
        return isinstance(inst, bool)
    if t == "number":
        return isinstance(inst, (int, float)) and not isinstance(inst, bool)
    if t == "integer":
        if isinstance(inst, bool):
            return False
        return isinstance(inst, int) or (isinstance(inst, float) and inst.is_integer())
    raise ValueError("unknown type " + t)


def validate(doc, inst, schema, path="$", depth=0):
    """Returns a list of error strings (empty when inst is valid)."""
    if depth > 60:
        return [path + ": schema nesting too deep (recursive $ref?)"]
    if "$ref" in schema:
        return validate(doc, inst, resolve(doc, schema["$ref"]), path, depth + 1)
    errs = []
    if "type" in schema:
        if inst is None:
            if not schema.get("nullable"):
                return [path + ": null not allowed"]
        elif not type_ok(inst, schema["type"]):
            return [path + ": expected " + schema["type"] + ", got " + type(inst).__name__]
    if "enum" in schema and not any(same(inst, e) for e in schema["enum"]):
        errs.append(path + ": %r not in enum %r" % (inst, schema["enum"]))
    if isinstance(inst, (int, float)) and not isinstance(inst, bool):
        if "minimum" in schema:
            lo = schema["minimum"]
            if inst < lo or (schema.get("exclusiveMinimum") and inst == lo):
                errs.append(path + ": %r below minimum %r" % (inst, lo))
        if "maximum" in schema:
            hi = schema["maximum"]
            if inst > hi or (schema.get("exclusiveMaximum") and inst == hi):
                errs.append(path + ": %r above maximum %r" % (inst, hi))
    if isinstance(inst, str):
        if "minLength" in schema and len(inst) < schema["minLength"]:
            errs.append(path + ": string too short")
        if "maxLength" in schema and len(inst) > schema["maxLength"]:
            errs.append(path + ": string too long")
        if "pattern" in schema and not re.search(schema["pattern"], inst):
            errs.append(path + ": %r does not match %r" % (inst, schema["pattern"]))
    if isinstance(inst, list):
        if "minItems" in schema and len(inst) < schema["minItems"]:
            errs.append(path + ": too few items")
        if "maxItems" in schema and len(inst) > schema["maxItems"]:
            errs.append(path + ": too many items")
        if schema.get("uniqueItems"):
            for i in range(len(inst)):
                for j in range(i):
                    if same(inst[i], inst[j]):
                        errs.append(path + ": duplicate items")
        if "items" in schema:
            for i, item in enumerate(inst):
                errs += validate(doc, item, schema["items"], "%s[%d]" % (path, i), depth + 1)
    if isinstance(inst, dict):
        props = schema.get("properties", {})
        for r in schema.get("required", []):
            if r not in inst:
                errs.append(path + ": missing required field " + r)
        for k, v in inst.items():
            if k in props:
                errs += validate(doc, v, props[k], path + "." + k, depth + 1)
            else:
                ap = schema.get("additionalProperties", True)
                if ap is False:
                    errs.append(path + ": unknown field " + k)
                elif isinstance(ap, dict):
                    errs += validate(doc, v, ap, path + "." + k, depth + 1)
    for sub in schema.get("allOf", []):
        errs += validate(doc, inst, sub, path, depth + 1)
    if "anyOf" in schema:
        if not any(not validate(doc, inst, s, path, depth + 1) for s in schema["anyOf"]):
            errs.append(path + ": matches no anyOf branch")
    if "oneOf" in schema:
        results = [validate(doc, inst, s, path, depth + 1) for s in schema["oneOf"]]
        n = sum(1 for r in results if not r)
        if n != 1:
            detail = "; ".join(r[0] for r in results if r)[:400]
            errs.append(path + ": matches %d oneOf branches (need 1): %s" % (n, detail))
    if "not" in schema and not validate(doc, inst, schema["not"], path, depth + 1):
        errs.append(path + ": matches the 'not' schema")
    return errs


# ---- the checks ---------------------------------------------------------------------------

def check_refs(doc):
    bad = []
    n = 0
    for path, node in walk(doc):
        ref = node.get("$ref")
        if isinstance(ref, str):
            n += 1
            try:
                resolve(doc, ref)
            except (KeyError, IndexError, ValueError, TypeError):
                bad.append("%s -> %s" % (path, ref))
            if len(node) > 1 and "/schemas/" in path:
                bad.append("%s: siblings of $ref are ignored in OpenAPI 3.0: %s"
                           % (path, sorted(k for k in node if k != "$ref")))
    for b in bad:
        print("     " + b)
    check(not bad, "all %d $refs resolve (and have no ignored siblings)" % n)


def check_openapi_rules(doc):
    problems = []
    for path, node in walk(doc):
        if not is_schema_path(path):
            continue
        if "exclusiveMinimum" in node and (not isinstance(node["exclusiveMinimum"], bool)
                                           or "minimum" not in node):
            problems.append(path + ": exclusiveMinimum must be a boolean beside minimum (3.0)")
        if "exclusiveMaximum" in node and (not isinstance(node["exclusiveMaximum"], bool)
                                           or "maximum" not in node):
            problems.append(path + ": exclusiveMaximum must be a boolean beside maximum (3.0)")
        if node.get("nullable") and "type" not in node:
            problems.append(path + ": nullable without type has no effect in 3.0.3")
        if node.get("type") == "array" and "items" not in node:
            problems.append(path + ": array without items")
        if isinstance(node.get("type"), list):
            problems.append(path + ": type lists are 3.1-only")
        for kw in ("const", "examples", "$schema", "prefixItems", "unevaluatedProperties"):
            if kw in node and "/examples" not in path and not path.endswith("/properties"):
                if kw == "examples" and "/content/" in path:
                    continue
                problems.append(path + ": keyword %s is not OpenAPI 3.0 schema" % kw)
        if node.get("additionalProperties") is False:
            props = node.get("properties", {})
            for r in node.get("required", []):
                if r not in props:
                    problems.append(path + ": required %s is not a property" % r)
        if "discriminator" in node:
            d = node["discriminator"]
            branches = {s.get("$ref") for s in node.get("oneOf", node.get("anyOf", []))}
            for value, target in d.get("mapping", {}).items():
                if target not in branches:
                    problems.append(path + ": mapping %s -> %s not in oneOf" % (value, target))
                else:
                    t = resolve(doc, target)
                    prop = t.get("properties", {}).get(d["propertyName"], {})
                    if t.get("oneOf"):
                        continue
                    if value not in prop.get("enum", []):
                        problems.append(path + ": %s does not accept %s=%s"
                                        % (target, d["propertyName"], value))
    for p in problems:
        print("     " + p)
    check(not problems, "OpenAPI 3.0 schema rules")

    # Operations.
    op_ids = set()
    problems = []
    methods = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
    for route, item in doc["paths"].items():
        declared = {p["name"] if "name" in p else resolve(doc, p["$ref"])["name"]
                    for p in item.get("parameters", [])
                    if (p.get("in") or resolve(doc, p["$ref"])["in"]) == "path"}
        for m in methods:
            if m not in item:
                continue
            op = item[m]
            oid = op.get("operationId")
            if not oid or oid in op_ids:
                problems.append("%s %s: missing or duplicate operationId" % (m, route))
            op_ids.add(oid)
            names = set(declared)
            for p in op.get("parameters", []):
                p = resolve(doc, p["$ref"]) if "$ref" in p else p
                if p["in"] == "path":
                    names.add(p["name"])
            for tmpl in re.findall(r"\{([^}]+)\}", route):
                if tmpl not in names:
                    problems.append("%s %s: path parameter %s not declared" % (m, route, tmpl))
            for status, resp in op["responses"].items():
                if not isinstance(status, str):
                    problems.append("%s %s: response code %r is not a string" % (m, route, status))
                r = resolve(doc, resp["$ref"]) if "$ref" in resp else resp
                if "X-Request-Id" not in r.get("headers", {}):
                    problems.append("%s %s %s: no X-Request-Id header" % (m, route, status))
                if str(status) >= "400":
                    sch = r["content"]["application/json"]["schema"]
                    sch = resolve(doc, sch["$ref"]) if "$ref" in sch else sch
                    code = sch["properties"]["error"]["properties"]["code"]
                    if "enum" not in code:
                        problems.append("%s %s %s: error code not enumerated" % (m, route, status))
    for p in problems:
        print("     " + p)
    check(not problems, "%d operations: ids, path parameters, X-Request-Id, error code enums"
          % len(op_ids))


def check_defaults_and_examples(doc):
    problems = []
    n = 0
    for path, node in walk(doc):
        if not is_schema_path(path) or "/properties/default" in path:
            continue
        for kw in ("default", "example"):
            if kw in node and ("type" in node or "$ref" in node or "oneOf" in node
                               or "anyOf" in node or "allOf" in node or "enum" in node):
                n += 1
                errs = validate(doc, node[kw], node, path + "." + kw)
                problems += errs
    # media type examples
    for path, node in walk(doc):
        if "/content/" in path and "schema" in node and ("example" in node or "examples" in node):
            exs = [node["example"]] if "example" in node else [
                e["value"] for e in node["examples"].values()]
            for e in exs:
                n += 1
                if isinstance(e, str) and node["schema"].get("type") == "string":
                    continue
                problems += validate(doc, e, node["schema"], path + " example")
    for p in problems[:40]:
        print("     " + p)
    check(not problems, "%d defaults and examples validate against their schemas" % n)


SAMPLES = [
    # (accepted?, description, request)
    (True, "train on a builtin with defaults", {"kind": "train", "data": {"builtin": "digits"}}),
    (True, "train, full options", {
        "kind": "train", "label": "x", "timeout_s": 60, "notify_url": "http://127.0.0.1:9/h",
        "data": {"builtin": "two_moons", "n": 200, "noise": 0.2, "standardize": True,
                 "test_fraction": 0.25, "split_seed": 1},
        "params": {"hidden": [32, 32], "activation": "leaky_relu", "leaky_slope": 0.1,
                   "optimizer": {"name": "adam", "lr": 0.01, "betas": [0.8, 0.99],
                                 "amsgrad": True},
                   "schedule": {"name": "cosine", "t_max": 10, "warmup_epochs": 2},
                   "label_noise": {"flip_prob": 0.1}, "validation_fraction": 0.1,
                   "early_stopping": {"patience": 3}, "track": {"sharpness_every": 5},
                   "init": "normal", "init_std": 0.1, "clip_grad_norm": 1.0, "seed": 3}}),
    (True, "train, filled-in nulls are accepted", {
        "kind": "train", "label": None, "timeout_s": None, "notify_url": None,
        "data": {"builtin": "iris", "classes": None, "binary": None, "max_train": None},
        "params": {"w_std": None, "b_std": None, "max_steps": None, "label_noise": None,
                   "early_stopping": None, "init_model": None, "clip_grad_norm": None}}),
    (True, "train with ntk parameterization", {
        "kind": "train", "data": {"builtin": "sphere"},
        "params": {"parameterization": "ntk", "w_std": 1.4, "b_std": 0.1, "loss": "mse"}}),
    (True, "sam over adam with betas", {
        "kind": "train", "data": {"builtin": "xor"},
        "params": {"optimizer": {"name": "sam", "base": "adam", "rho": 0.1, "betas": [0.9, 0.9]}}}),
    (True, "sam with the default base", {
        "kind": "train", "data": {"builtin": "xor"},
        "params": {"optimizer": {"name": "sam", "lr": 0.1}}}),
    (False, "sam over sgd with betas", {
        "kind": "train", "data": {"builtin": "xor"},
        "params": {"optimizer": {"name": "sam", "betas": [0.9, 0.9]}}}),
    (False, "sgd with betas (field of another optimizer)", {
        "kind": "train", "data": {"builtin": "xor"},
        "params": {"optimizer": {"name": "sgd", "betas": [0.9, 0.999]}}}),
    (False, "optimizer without name", {
        "kind": "train", "data": {"builtin": "xor"}, "params": {"optimizer": {"lr": 0.1}}}),
    (False, "negative lr", {
        "kind": "train", "data": {"builtin": "xor"},
        "params": {"optimizer": {"name": "sgd", "lr": -0.1}}}),
    (False, "train with a model", {"kind": "train", "model": "m_1", "data": {"builtin": "iris"}}),
    (False, "train without data", {"kind": "train"}),
    (False, "unknown top-level field", {"kind": "train", "data": {"builtin": "iris"}, "prams": {}}),
    (False, "unknown params field", {"kind": "train", "data": {"builtin": "iris"},
                                      "params": {"epoch": 3}}),
    (False, "multistep without milestones", {
        "kind": "train", "data": {"builtin": "iris"},
        "params": {"schedule": {"name": "multistep"}}}),
    (False, "step_size on a cosine schedule", {
        "kind": "train", "data": {"builtin": "iris"},
        "params": {"schedule": {"name": "cosine", "step_size": 3}}}),
    (False, "label noise with both forms", {
        "kind": "train", "data": {"builtin": "iris"},
        "params": {"label_noise": {"sigma": 0.1, "flip_prob": 0.1}}}),
    (False, "label over 200 characters", {"kind": "train", "data": {"builtin": "iris"},
                                          "label": "x" * 201}),
    (False, "ftp notify_url", {"kind": "train", "data": {"builtin": "iris"},
                               "notify_url": "ftp://example/x"}),
    (False, "two data sources", {"kind": "train", "data": {"builtin": "iris", "dataset": "d_1"}}),
    (False, "unknown builtin", {"kind": "train", "data": {"builtin": "mnist"}}),
    (False, "generator option on a real builtin", {"kind": "train",
                                                    "data": {"builtin": "iris", "n": 10}}),
    (False, "classes on a regression generator", {"kind": "train",
                                                  "data": {"builtin": "linear", "classes": [0]}}),
    (False, "test_fraction 1", {"kind": "train", "data": {"builtin": "iris", "test_fraction": 1}}),
    (True, "inline data", {"kind": "train", "data": {"inline": {
        "x": [[0.0, 1.0], [1.0, 0.0]], "y": ["a", "b"]}, "classes": ["b", "a"]}}),
    (False, "inline with name", {"kind": "train", "data": {"inline": {
        "x": [[0.0]], "y": [0], "name": "n"}}}),
    (True, "ntk analytic defaults", {"kind": "ntk", "data": {"builtin": "sphere"}}),
    (True, "ntk analytic, full", {"kind": "ntk", "data": {"builtin": "sphere", "unit_norm": True},
                                  "params": {"depth": 3, "activation": "erf", "w_std": 1.5,
                                             "b_std": 0.05, "kernels": ["nngp"],
                                             "regression": {"ridge": 0.01, "kernel": "nngp",
                                                            "time": 10.0},
                                             "spectrum": True, "complexity": True,
                                             "quadrature_tol": 1.0e-8}}),
    (False, "ntk analytic with width", {"kind": "ntk", "data": {"builtin": "sphere"},
                                        "params": {"width": 100}}),
    (True, "ntk empirical with model", {"kind": "ntk", "data": {"builtin": "sphere"},
                                        "model": "m_1", "params": {"mode": "empirical",
                                                                   "output": 0}}),
    (False, "ntk empirical with nngp", {"kind": "ntk", "data": {"builtin": "sphere"},
                                        "params": {"mode": "empirical",
                                                   "kernels": ["ntk", "nngp"]}}),
    (False, "ntk empirical with quadrature_tol", {"kind": "ntk", "data": {"builtin": "sphere"},
                                                  "params": {"mode": "empirical",
                                                             "quadrature_tol": 0.1}}),
    (True, "influence defaults", {"kind": "influence", "model": "m_1"}),
    (True, "influence lissa", {"kind": "influence", "model": "m_1",
                               "params": {"method": "lissa", "depth": 100, "scale": 10.0,
                                          "validate": {"loo": 5}, "self_influence": True}}),
    (False, "influence without model", {"kind": "influence", "data": {"builtin": "iris"}}),
    (True, "shapley data defaults", {"kind": "shapley", "data": {"builtin": "iris"}}),
    (True, "shapley kernel ridge", {"kind": "shapley", "data": {"builtin": "iris"},
                                    "params": {"utility": {"model": "kernel_ridge",
                                                           "kernel": {"name": "ntk", "depth": 2}},
                                               "method": "tmc", "max_time_s": 5}}),
    (True, "shapley mlp utility", {"kind": "shapley", "data": {"builtin": "iris"},
                                   "params": {"utility": {"model": "mlp", "hidden": [8],
                                                          "epochs": 2,
                                                          "optimizer": {"name": "adam"}}}}),
    (False, "mlp utility with validation", {"kind": "shapley", "data": {"builtin": "iris"},
                                            "params": {"utility": {"model": "mlp",
                                                                   "validation_fraction": 0.1}}}),
    (False, "knn utility with l2", {"kind": "shapley", "data": {"builtin": "iris"},
                                    "params": {"utility": {"model": "knn", "l2": 0.1}}}),
    (True, "shapley features", {"kind": "shapley", "model": "m_1",
                                "params": {"players": "features", "x": [1.0, 2.0],
                                           "baseline": "mean", "method": "exact"}}),
    (False, "shapley features with a utility", {"kind": "shapley", "model": "m_1",
                                                "params": {"players": "features",
                                                           "utility": {"model": "knn"}}}),
    (True, "pac_bayes calculator", {"kind": "pac_bayes",
                                    "params": {"kl": 10.0, "m": 1000, "empirical_risk": 0.1}}),
    (False, "pac_bayes calculator missing m", {"kind": "pac_bayes",
                                               "params": {"kl": 10.0, "empirical_risk": 0.1}}),
    (False, "pac_bayes calculator with mc_samples", {
        "kind": "pac_bayes", "params": {"kl": 1.0, "m": 10, "empirical_risk": 0.1,
                                        "mc_samples": 10}}),
    (True, "pac_bayes with a model", {"kind": "pac_bayes", "model": "m_1",
                                      "params": {"prior": {"center": "zero", "sigma": 0.1},
                                                 "posterior": {"optimize": {"epochs": 5}}}}),
    (False, "pac_bayes prior sigma and grid", {
        "kind": "pac_bayes", "model": "m_1",
        "params": {"prior": {"sigma": 0.1, "grid": {"count": 4}}}}),
    (True, "hessian", {"kind": "hessian", "model": "m_1",
                       "params": {"top_k": 5, "density": True, "bins": 50, "sigma": "auto"}}),
    (True, "sleep", {"kind": "sleep", "params": {"ms": 10, "fail": True}}),
    (False, "sleep with data", {"kind": "sleep", "data": {"builtin": "iris"}}),
    (False, "sleep over an hour", {"kind": "sleep", "params": {"ms": 3600001}}),
    (False, "unknown kind", {"kind": "dream"}),
]


def check_samples(doc):
    schema = {"$ref": "#/components/schemas/JobSubmission"}
    for accept, what, req in SAMPLES:
        errs = validate(doc, req, schema)
        ok = (not errs) == accept
        if not ok and accept:
            print("     " + "; ".join(errs)[:600])
        check(ok, "sample %s: %s" % ("accepted" if accept else "rejected", what))


def strict_diff(a, b, path="$"):
    """First difference between two JSON values, types included (1 vs 1.0 differ)."""
    if type(a) is not type(b):
        return "%s: %s %r vs %s %r" % (path, type(a).__name__, a, type(b).__name__, b)
    if isinstance(a, dict):
        if list(a.keys()) != list(b.keys()):
            return "%s: keys %s vs %s" % (path, list(a.keys())[:8], list(b.keys())[:8])
        for k in a:
            d = strict_diff(a[k], b[k], path + "." + k)
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return "%s: lengths %d vs %d" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            d = strict_diff(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return None
    return None if a == b else "%s: %r vs %r" % (path, a, b)


def run_yaml2json(tool, text, *args):
    p = subprocess.run([tool, *args], input=text.encode(), capture_output=True)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


YAML2JSON_CASES = [
    # (yaml, expected JSON value or None for an error, expected stderr fragment)
    ("a: 1\nb: 1.0\nc: 1.0e-10\nd: .5\ne: 0x1F\nf: 0o17\ng: +5\n",
     {"a": 1, "b": 1.0, "c": 1e-10, "d": 0.5, "e": 31, "f": 15, "g": 5}, None),
    ("[null, ~, true, False, yes, 'true', \"3\", 1e3, 2001-01-01]",
     [None, None, True, False, "yes", "true", "3", 1000.0, "2001-01-01"], None),
    ("a:\nb: Null\n", {"a": None, "b": None}, None),
    ("x: &a {k: [1, 2]}\ny: *a\n", {"x": {"k": [1, 2]}, "y": {"k": [1, 2]}}, None),
    ("200: ok\ntrue: t\n", {"200": "ok", "true": "t"}, None),
    ("s: !!str 12\ni: !!int '12'\nf: !!float 1\n", {"s": "12", "i": 12, "f": 1.0}, None),
    ("t: |\n  line\n  two\n", {"t": "line\ntwo\n"}, None),
    ("", None, None),
    ("a: [1, 2\n", "error", "line 2, column 1"),
    ("a: .inf\n", "error", "line 1, column 4"),
    ("a: 1e400\n", "error", "line 1, column 4"),
    ("a: 1\na: 2\n", "error", "duplicate mapping key"),
    ("a: *nothing\n", "error", "undefined alias"),
    ("--- 1\n--- 2\n", "error", "more than one"),
    ("a: 99999999999999999999\n", "error", "out of range"),
]


def check_yaml2json(doc_text, doc, tool):
    if not os.path.exists(tool):
        subprocess.run(["make", "-s", "-C", ROOT, os.path.relpath(tool, ROOT)],
                       capture_output=True)
    if not os.path.exists(tool):
        check(False, "tools/yaml2json builds (%s)" % tool)
        return
    rc, out, err = run_yaml2json(tool, doc_text)
    if not check(rc == 0, "yaml2json converts api/openapi.yaml (%s)" % err.strip()):
        return
    mine = json.loads(out)
    py = json.loads(json.dumps(doc))
    d = strict_diff(mine, py)
    if d:
        print("     " + d)
    check(d is None, "yaml2json output equals yaml.safe_load (values and types)")
    rc, out2, _ = run_yaml2json(tool, doc_text, "-c")
    check(rc == 0 and json.loads(out2) == mine and "\n" not in out2.strip(),
          "yaml2json -c gives the same value in compact form")
    for text, want, frag in YAML2JSON_CASES:
        rc, out, err = run_yaml2json(tool, text)
        if want == "error":
            ok = rc == 1 and frag in err and out == ""
        else:
            ok = rc == 0 and strict_diff(json.loads(out), want) is None
        check(ok, "yaml2json case %r -> %s %s" % (text[:30], "error" if want == "error"
                                                  else "ok", (err.strip() or "")[:80]))
    rc, _, _ = run_yaml2json(tool, "", "--bogus")
    check(rc == 2, "yaml2json: a bad argument exits 2")


def check_spec_validator(doc):
    try:
        from openapi_spec_validator import validate as osv_validate
    except ImportError:
        print("skip openapi-spec-validator is not installed for %s" % sys.executable)
        return
    try:
        osv_validate(json.loads(json.dumps(doc)))
        check(True, "openapi-spec-validator accepts the document")
    except Exception as e:  # noqa: BLE001 - report whatever it raises
        print("     " + str(e)[:2000])
        check(False, "openapi-spec-validator accepts the document")


def main():
    global verbose
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--yaml2json", default=os.path.join(ROOT, "build", "tools", "yaml2json"))
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args()
    verbose = args.verbose

    text = open(DOC_PATH, encoding="utf-8").read()
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        check(False, "api/openapi.yaml parses: %s" % e)
        return finish()
    check(True, "api/openapi.yaml parses")
    try:
        json.dumps(doc, allow_nan=False)
        check(True, "the document is JSON-representable")
    except (TypeError, ValueError) as e:
        check(False, "the document is JSON-representable: %s" % e)
        return finish()
    with open(os.path.join(ROOT, "core", "tg.h")) as f:
        m = re.search(r'#define TG_VERSION "([^"]+)"', f.read())
    version = m.group(1) if m else "?"
    check(doc.get("openapi") == "3.0.3" and doc["info"].get("version") == version,
          "openapi 3.0.3, info.version %s (TG_VERSION of core/tg.h)" % version)
    check_refs(doc)
    check_openapi_rules(doc)
    check_defaults_and_examples(doc)
    check_samples(doc)
    for kind in ("Train", "Ntk", "Influence", "Shapley", "PacBayes", "Hessian", "Sleep"):
        s = doc["components"]["schemas"]
        check(kind + "Params" in s and kind + "Result" in s,
              "schemas %sParams and %sResult exist" % (kind, kind))
    check_yaml2json(text, doc, args.yaml2json)
    check_spec_validator(doc)
    n_choices = len(re.findall(r"tangentd\s+choice", text))
    print("note %d '(tangentd choice)' decisions are marked in the document" % n_choices)
    return finish()


def finish():
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
