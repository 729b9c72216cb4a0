# tangentd build. `make run` and `make test` are the two commands of the README; both
# first run `deps`, which installs missing Debian packages when run as root and
# otherwise prints the exact apt-get command and stops.

CC      ?= cc
PKGS    := libmicrohttpd jansson sqlite3 openblas
DEB_PKGS := build-essential pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev \
            libopenblas-dev check libcurl4-openssl-dev libyaml-dev curl
# `make openapi-check` only: tests/reference/check_openapi.py needs Debian's python3 and
# its yaml module.
OPENAPI_DEB_PKGS := python3 python3-yaml
PYTHON  ?= /usr/bin/python3
BUILD   ?= build
PORT    ?= 8080
DB      ?= ./tangent.db

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter
ifneq ($(CI),)
WARN    += -Werror
endif
OPT     ?= -O2 -g
# pkg-config runs once per make (`:=`). Targets that first run `deps` build in a sub-make,
# which reads these after the packages are installed.
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -pthread -MMD -MP \
              $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(EXTRA_CFLAGS)
LIBS_ALL   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -pthread $(EXTRA_LDFLAGS)
TEST_LIBS  := $(shell pkg-config --libs check libcurl 2>/dev/null)
TEST_CFLAGS := $(shell pkg-config --cflags check libcurl 2>/dev/null)
# The e2e client is a black-box HTTP client: libcurl, jansson, Check; no server libraries.
E2E_LIBS   := $(shell pkg-config --libs check libcurl jansson 2>/dev/null) -lm -pthread \
              $(EXTRA_LDFLAGS)
YAML_FLAGS := $(shell pkg-config --cflags --libs yaml-0.1 jansson 2>/dev/null)

CORE_SRC   := $(wildcard core/*.c)
API_SRC    := $(wildcard api/*.c)
SERVER_SRC := $(filter-out server/main.c,$(wildcard server/*.c))
LIB_OBJ    := $(CORE_SRC:%.c=$(BUILD)/%.o) \
              $(API_SRC:%.c=$(BUILD)/%.o) $(SERVER_SRC:%.c=$(BUILD)/%.o) \
              $(BUILD)/gen/embedded.o
UNIT_SRC   := tests/check_main.c $(wildcard tests/core/check_*.c) \
              $(wildcard tests/api/check_*.c) $(wildcard tests/server/check_*.c)
E2E_SRC    := $(wildcard tests/e2e/*.c)

.PHONY: layers all run test asan bench docker clean deps unit e2e fault check-deps openapi-check \
        openapi-deps
all: $(BUILD)/tangentd

# ---- dependencies -------------------------------------------------------------------
# $(call install_missing,PACKAGES): one dpkg-query for all of them; installs the missing
# ones as root, else prints the apt-get command and fails.
define install_missing
	@ok=" $$(dpkg-query -W -f='$${Status} $${Package}\n' $(1) 2>/dev/null | \
	  sed -n 's/^install ok installed //p' | tr '\n' ' ')"; \
	missing=""; for p in $(1); do \
	  case "$$ok" in *" $$p "*) ;; *) missing="$$missing $$p";; esac; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "deps: installing$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing </dev/null || exit 1; \
	  else \
	    echo "deps: missing Debian packages; run:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi
endef
deps:
	$(call install_missing,$(DEB_PKGS))
openapi-deps:
	$(call install_missing,$(OPENAPI_DEB_PKGS))

# ---- build ----------------------------------------------------------------------------
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(FILE_CFLAGS) -c $< -o $@

# Per-file flags. The elementwise loops of these files (the kernel's pass, activations,
# optimizers) vectorize at -O3; no flag here changes a result (no reassociation).
# O3_OPT is emptied by `make asan`, which keeps its own -O1 everywhere.
O3_FILES      := core/ntk.c core/ntk_maps.c core/quad.c core/ntk_emp.c core/mlp.c core/optim.c core/train.c \
                 core/curv.c \
                 core/shapley_util.c
# The kernel's elementwise pass vectorizes only without errno and FP-trap semantics
# (neither is used anywhere in tangentd).
NO_ERRNO_FILES := core/ntk.c core/ntk_maps.c core/quad.c core/ntk_emp.c
O3_OPT        ?= -O3
$(O3_FILES:%.c=$(BUILD)/%.o): FILE_CFLAGS += $(O3_OPT)
$(NO_ERRNO_FILES:%.c=$(BUILD)/%.o): FILE_CFLAGS += -fno-math-errno -fno-trapping-math

# Files embedded in the binary: migrations, the OpenAPI document (YAML -> JSON at build
# time by tools/yaml2json), the dashboard.
EMBED_FILES := $(sort $(wildcard migrations/*.sql)) $(sort $(wildcard data/*.csv)) $(BUILD)/gen/openapi.json \
               $(wildcard server/assets/*)
$(BUILD)/tools/yaml2json: tools/yaml2json.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 $(WARN) $< -o $@ $(YAML_FLAGS)
$(BUILD)/gen/openapi.json: api/openapi.yaml $(BUILD)/tools/yaml2json
	@mkdir -p $(dir $@)
	$(BUILD)/tools/yaml2json < $< > $@.tmp && mv $@.tmp $@
# docs/api.md, the API reference, is generated from the same document by tools/apidoc.c
# and committed: `make docs` regenerates it, `make docs-check` (part of `make test`) fails
# when the committed file is not what the document gives.
.PHONY: docs docs-check
$(BUILD)/tools/apidoc: tools/apidoc.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 $(WARN) $< -o $@ $(shell pkg-config --cflags --libs jansson 2>/dev/null)
$(BUILD)/gen/api.md: $(BUILD)/gen/openapi.json $(BUILD)/tools/apidoc
	$(BUILD)/tools/apidoc < $< > $@.tmp && mv $@.tmp $@
docs: $(BUILD)/gen/api.md
	cp $< docs/api.md
docs-check: $(BUILD)/gen/api.md
	@cmp -s $< docs/api.md || { diff -u docs/api.md $< | head -n 40; \
	  echo "docs/api.md is stale: run make docs"; exit 1; }
$(BUILD)/gen/embedded.c: $(EMBED_FILES) tools/embed.sh
	@mkdir -p $(dir $@)
	sh tools/embed.sh $(EMBED_FILES) > $@.tmp && mv $@.tmp $@
$(BUILD)/gen/embedded.o: $(BUILD)/gen/embedded.c
	$(CC) $(CFLAGS_ALL) -I. -c $< -o $@

$(BUILD)/tangentd: $(BUILD)/server/main.o $(LIB_OBJ)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LIBS_ALL)

$(BUILD)/check_unit: $(UNIT_SRC:%.c=$(BUILD)/%.o) $(LIB_OBJ)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LIBS_ALL) $(TEST_LIBS)
$(BUILD)/check_e2e: $(E2E_SRC:%.c=$(BUILD)/%.o)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(E2E_LIBS)
$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(TEST_CFLAGS) -I. -c $< -o $@

# Allocation-failure injection (tests/fault/fault.h): our objects' allocations wrapped.
FAULT_SRC  := $(wildcard tests/fault/*.c)
FAULT_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup,--wrap=posix_memalign,--wrap=free
$(BUILD)/check_fault: $(FAULT_SRC:%.c=$(BUILD)/%.o) $(LIB_OBJ)
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(FAULT_WRAP) $(LIBS_ALL) $(TEST_LIBS) -ldl
fault: $(BUILD)/check_fault
	CK_DEFAULT_TIMEOUT=900 $(BUILD)/check_fault

# ---- run and test -------------------------------------------------------------------
run: deps
	$(MAKE) all
	$(BUILD)/tangentd --port $(PORT) --db $(DB) $(ARGS)

unit: $(BUILD)/check_unit
	cd tests && CK_DEFAULT_TIMEOUT=600 ../$(BUILD)/check_unit

e2e: $(BUILD)/tangentd $(BUILD)/check_e2e
	CK_DEFAULT_TIMEOUT=600 TANGENTD_BIN=$(abspath $(BUILD)/tangentd) $(BUILD)/check_e2e

# The layering rules of STYLE.md section 1 (see tests/check_layers.sh), on the objects.
layers: all
	sh tests/check_layers.sh $(BUILD)

test: deps
	$(MAKE) all $(BUILD)/check_unit $(BUILD)/check_e2e $(BUILD)/check_fault
	$(MAKE) layers docs-check
	$(MAKE) unit
	$(MAKE) e2e
	$(MAKE) fault

# The whole suite under AddressSanitizer and UBSan, in its own build directory, at -O1
# for every file (O3_OPT= drops the per-file -O3).
asan: deps
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" O3_OPT= \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" test

bench: deps
	$(MAKE) all
	sh bench/run.sh

# The OpenAPI document's own checks (tests/reference/check_openapi.py), with Debian's
# python3 and python3-yaml; not part of `make test`, run by CI.
openapi-check: deps openapi-deps
	$(MAKE) $(BUILD)/tools/yaml2json
	$(PYTHON) tests/reference/check_openapi.py --yaml2json $(BUILD)/tools/yaml2json

docker:
	docker build -f docker/Dockerfile -t tangentd .

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
