# tangentd build. `make run` and `make test` are the two commands of the README; both
# first run `deps`, which installs missing Debian packages when run as root and
# otherwise prints the exact apt-get command and stops.

CC      ?= cc
PKGS    := libmicrohttpd jansson sqlite3 openblas
DEB_PKGS := build-essential pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev \
            libopenblas-dev check libcurl4-openssl-dev libyaml-dev curl
BUILD   ?= build
PORT    ?= 8080
DB      ?= ./tangent.db

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter
ifneq ($(CI),)
WARN    += -Werror
endif
OPT     ?= -O2 -g
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -pthread -MMD -MP \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(EXTRA_CFLAGS)
LIBS_ALL   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -pthread $(EXTRA_LDFLAGS)
TEST_LIBS  = $(shell pkg-config --libs check libcurl 2>/dev/null)
TEST_CFLAGS = $(shell pkg-config --cflags check libcurl 2>/dev/null)

CORE_SRC   := $(wildcard core/*.c)
API_SRC    := $(wildcard api/*.c)
SERVER_SRC := $(filter-out server/main.c,$(wildcard server/*.c))
LIB_OBJ    := $(CORE_SRC:%.c=$(BUILD)/%.o) \
              $(API_SRC:%.c=$(BUILD)/%.o) $(SERVER_SRC:%.c=$(BUILD)/%.o) \
              $(BUILD)/gen/embedded.o
UNIT_SRC   := tests/check_main.c $(wildcard tests/core/check_*.c) \
              $(wildcard tests/api/check_*.c) $(wildcard tests/server/check_*.c)
E2E_SRC    := $(wildcard tests/e2e/*.c)

.PHONY: all run test asan bench docker clean deps unit e2e check-deps
all: $(BUILD)/tangentd

# ---- dependencies -------------------------------------------------------------------
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
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

# ---- build ----------------------------------------------------------------------------
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(FILE_CFLAGS) -c $< -o $@

# The kernel's elementwise pass vectorizes only without errno and FP-trap semantics
# (neither is used anywhere in tangentd).
$(BUILD)/core/ntk.o $(BUILD)/core/ntk_maps.o \
$(BUILD)/core/ntk_emp.o: FILE_CFLAGS = -O3 -fno-math-errno -fno-trapping-math
# Training's elementwise loops (activations, optimizers) vectorize at -O3; no flag here
# changes a result (no reassociation).
$(BUILD)/core/mlp.o $(BUILD)/core/optim.o $(BUILD)/core/train.o: FILE_CFLAGS = -O3

# Files embedded in the binary: migrations, the OpenAPI document (YAML -> JSON at build
# time by tools/yaml2json), the dashboard.
EMBED_FILES := $(sort $(wildcard migrations/*.sql)) $(sort $(wildcard data/*.csv)) $(BUILD)/gen/openapi.json \
               $(wildcard server/assets/*)
$(BUILD)/tools/yaml2json: tools/yaml2json.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 $(WARN) $< -o $@ $(shell pkg-config --cflags --libs yaml-0.1 jansson)
$(BUILD)/gen/openapi.json: api/openapi.yaml $(BUILD)/tools/yaml2json
	@mkdir -p $(dir $@)
	$(BUILD)/tools/yaml2json < $< > $@.tmp && mv $@.tmp $@
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
	$(CC) $(CFLAGS_ALL) $^ -o $@ $(LIBS_ALL) $(TEST_LIBS)
$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(TEST_CFLAGS) -I. -c $< -o $@

# ---- run and test -------------------------------------------------------------------
run: deps
	$(MAKE) all
	$(BUILD)/tangentd --port $(PORT) --db $(DB) $(ARGS)

unit: $(BUILD)/check_unit
	cd tests && CK_DEFAULT_TIMEOUT=600 ../$(BUILD)/check_unit

e2e: $(BUILD)/tangentd $(BUILD)/check_e2e
	CK_DEFAULT_TIMEOUT=600 TANGENTD_BIN=$(abspath $(BUILD)/tangentd) $(BUILD)/check_e2e

test: deps
	$(MAKE) all $(BUILD)/check_unit $(BUILD)/check_e2e
	$(MAKE) unit
	$(MAKE) e2e

# The whole suite under AddressSanitizer and UBSan, in its own build directory.
asan: deps
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" test

bench: deps all
	sh bench/run.sh

docker:
	docker build -f docker/Dockerfile -t tangentd .

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
