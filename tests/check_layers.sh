#!/bin/sh
# check_layers.sh BUILD_DIR: the dependency rules of STYLE.md section 1 and of the kind
# registry, checked on the built objects and the sources. Prints each violation and
# exits 1 if there is any.
#  - server/ knows no kind's parameters: no `init_model` (or other params.*) in server/;
#  - no file of server/ calls a function defined in an endpoint file (server/h_*.c)
#    except the router (the route table);
#  - core/ includes no jansson, microhttpd or sqlite; api/ no microhttpd or sqlite;
#    core/ and api/ include nothing of server/, core/ nothing of api/;
#  - every test suite is registered, in the one place for its kind: tests/suites.def,
#    api/kinds.def (a kind's unit and e2e suites), or check_e2e.c's SERVICE_SUITES.
set -u
build=${1:-build}
cd "$(dirname "$0")/.." || exit 2
bad=0
say() { echo "check_layers: $*"; bad=1; }

hits=$(grep -n 'init_model\|"params\.' server/*.c server/*.h 2>/dev/null)
[ -n "$hits" ] && say "server/ names a kind's parameters:
$hits"

ls "$build"/server/h_*.o >/dev/null 2>&1 || { echo "check_layers: build $build first"; exit 2; }
defs=$(nm --defined-only -g "$build"/server/h_*.o | awk 'NF == 3 && $2 == "T" {print $3}' | sort -u)
for o in "$build"/server/*.o; do
    case "$(basename "$o")" in h_*.o|router.o) continue ;; esac
    for f in $(nm -u "$o" | awk '{print $2}'); do
        if printf '%s\n' "$defs" | grep -qx "$f"; then
            say "$(basename "$o" .o).c calls $f, defined in an endpoint file"
        fi
    done
done

hits=$(grep -n '#include *[<"]\(jansson\|microhttpd\|sqlite3\)\.h' core/*.c core/*.h 2>/dev/null)
[ -n "$hits" ] && say "core/ includes a service library:
$hits"
hits=$(grep -n '#include *[<"]\(microhttpd\|sqlite3\)\.h' api/*.c api/*.h 2>/dev/null)
[ -n "$hits" ] && say "api/ includes microhttpd or sqlite:
$hits"
hits=$(grep -n '#include *"\.\./server/' core/* api/* 2>/dev/null; grep -n '#include *"\.\./api/' core/* 2>/dev/null)
[ -n "$hits" ] && say "an include against the direction server -> api -> core:
$hits"

for f in tests/core/check_*.c tests/api/check_*.c tests/server/check_*.c; do
    for s in $(sed -n 's/^Suite \*\([a-z0-9_]*\)_suite(void).*/\1/p' "$f"); do
        grep -q "^SUITE($s)" tests/suites.def || grep -q "^KIND($s)" api/kinds.def ||
            say "suite ${s}_suite ($f) is not registered in tests/suites.def or api/kinds.def"
    done
done
service=$(sed -n 's/^#define SERVICE_SUITES(X) //p' tests/e2e/check_e2e.c)
for f in tests/e2e/check_*.c; do
    for s in $(sed -n 's/^Suite \*e2e_\([a-z0-9_]*\)_suite(void).*/\1/p' "$f"); do
        case " $service " in *"X($s)"*) continue ;; esac
        grep -q "^KIND($s)" api/kinds.def ||
            say "suite e2e_${s}_suite ($f) is not in SERVICE_SUITES or api/kinds.def"
    done
done

[ $bad = 0 ] && echo "check_layers: ok (server knows no kind parameters; only the router calls endpoint files; includes flow server -> api -> core; every suite registered)"
exit $bad
