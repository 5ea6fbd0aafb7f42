# odock — one binary, built with pkg-config'd Debian libraries.
# `make` builds ./odock; `make test` runs every test, then again under ASan+UBSan.

CC      ?= cc
PKGS    := libcjson libcurl libwebsockets sqlite3 libpcre2-8
DEB_PKGS := build-essential pkg-config libcjson-dev libcurl4-openssl-dev libwebsockets-dev \
            libsqlite3-dev libpcre2-dev libcmocka-dev sqlite3 jq curl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_LIBS  := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -D_GNU_SOURCE
OPT     ?= -O2 -g
SAN     := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

LIB_SRC := $(wildcard core/*.c policies/*.c providers/*.c mcp/*.c gateway/*.c)
CMD_SRC := $(wildcard cmd/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
TOOL_SRC := $(wildcard tests/tools/*.c)
BENCH_SRC := $(wildcard tests/bench/*.c)
HDRS    := $(wildcard core/*.h policies/*.h providers/*.h mcp/*.h gateway/*.h cmd/*.h tests/unit/*.h)

# Two flavours of every object: build/rel (optimised) and build/san (sanitizers).
define flavour
$(1)_OBJ_LIB := $$(LIB_SRC:%.c=build/$(1)/%.o)
$(1)_OBJ_CMD := $$(CMD_SRC:%.c=build/$(1)/%.o)
$(1)_UNITS   := $$(UNIT_SRC:tests/unit/%.c=build/$(1)/tests/%)
$(1)_TOOLS   := $$(TOOL_SRC:tests/tools/%.c=build/$(1)/tools/%)
$(1)_BENCH   := $$(BENCH_SRC:tests/bench/%.c=build/$(1)/bench/%)

build/$(1)/%.o: %.c $$(HDRS) | build/$(1)/.dirs
	@mkdir -p $$(dir $$@)
	$$(CC) $$(WARN) $(2) $$(PKG_CFLAGS) -I. -c $$< -o $$@

build/$(1)/libodock.a: $$($(1)_OBJ_LIB)
	@rm -f $$@
	ar rcs $$@ $$^

build/$(1)/odock: $$($(1)_OBJ_CMD) build/$(1)/libodock.a
	$$(CC) $(2) -o $$@ $$($(1)_OBJ_CMD) build/$(1)/libodock.a $$(PKG_LIBS) -lpthread -lm

build/$(1)/tests/%: tests/unit/%.c build/$(1)/libodock.a $$(HDRS)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(WARN) $(2) $$(PKG_CFLAGS) -I. -o $$@ $$< build/$(1)/libodock.a $$(PKG_LIBS) $$(TEST_LIBS) -lpthread -lm

build/$(1)/tools/%: tests/tools/%.c build/$(1)/libodock.a $$(HDRS)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(WARN) $(2) $$(PKG_CFLAGS) -I. -o $$@ $$< build/$(1)/libodock.a $$(PKG_LIBS) -lpthread -lm

build/$(1)/bench/%: tests/bench/%.c build/$(1)/libodock.a $$(HDRS)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(WARN) $(2) $$(PKG_CFLAGS) -I. -o $$@ $$< build/$(1)/libodock.a $$(PKG_LIBS) -lpthread -lm

build/$(1)/.dirs:
	@mkdir -p build/$(1) && touch $$@

# mcp_load and wake: benchmark helpers also driven by tests/e2e (mcp_load.sh, bench_wake.sh)
$(1): build/$(1)/odock $$($(1)_UNITS) $$($(1)_TOOLS) build/$(1)/bench/mcp_load build/$(1)/bench/wake
endef

$(eval $(call flavour,rel,$(OPT)))
$(eval $(call flavour,san,$(SAN)))

.PHONY: all deps run test test-rel test-san bench clean rel san
.DEFAULT_GOAL := all

# deps first, then a new make: on a fresh machine the pkg-config flags read
# above were empty, and a parallel build must not compile while apt installs.
all: deps-check
	@$(MAKE) --no-print-directory odock

odock: build/rel/odock
	cp build/rel/odock odock.tmp && mv -f odock.tmp odock  # rename: a running ./odock keeps its file

deps-check:
	@pkg-config --exists $(PKGS) cmocka || $(MAKE) --no-print-directory deps

deps:
	@./tests/deps.sh $(PKGS) cmocka -- $(DEB_PKGS)

run: deps
	@$(MAKE) --no-print-directory odock
	./odock serve

test: deps
	@$(MAKE) --no-print-directory odock rel san
	@./tests/run.sh build/rel build/san

test-rel: deps
	@$(MAKE) --no-print-directory odock rel
	@./tests/run.sh build/rel

bench: deps
	@$(MAKE) --no-print-directory odock rel $(rel_BENCH)
	@./tests/bench/run.sh

clean:
	rm -rf build odock
