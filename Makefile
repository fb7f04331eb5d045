# Darius build.
#
#   make            build build/dariusd and build/darius
#   make run        install missing packages, build, start on the embedded config
#   make test       build and run every test (normal build, then ASan+UBSan)
#   make bench      build and run the load generator against a fresh server
#   make install PREFIX=/usr/local
#
# Layers (one-way dependencies, each a static library):
#   lib -> net, mail -> storage -> delivery; auth -> imap, pop3, lmtp -> daemon, cli
# Every .c file in a layer's directory is part of that layer; adding a file
# needs no Makefile change.

CC ?= cc
PREFIX ?= /usr/local
BUILD ?= build
SAN ?=

WARN = -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CSTD = -std=c17 -D_GNU_SOURCE
OPT ?= -O2 -g
DEPFLAGS = -MMD -MP
PKGS = openssl sqlite3 zlib libargon2
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lssl -lcrypto -lsqlite3 -lz -largon2)
LIBS = $(PKG_LIBS) -lcrypt -lm

ifeq ($(SAN),1)
  OPT = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDSAN = -fsanitize=address,undefined
endif

CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) $(PKG_CFLAGS) -Isrc -Isrc/lib -Isrc/net -Isrc/mail -Isrc/storage -Isrc/auth -Isrc/imap -Isrc/pop3 -Isrc/lmtp -Isrc/delivery -Isrc/access $(CFLAGS)
LDFLAGS_ALL = $(LDSAN) $(LDFLAGS)

LAYERS = lib net mail storage auth access delivery imap pop3 lmtp
lib_SRC = $(wildcard src/lib/*.c)
net_SRC = $(wildcard src/net/*.c)
mail_SRC = $(wildcard src/mail/*.c)
storage_SRC = $(wildcard src/storage/*.c)
auth_SRC = $(wildcard src/auth/*.c)
access_SRC = $(wildcard src/access/*.c)
imap_SRC = $(wildcard src/imap/*.c)
pop3_SRC = $(wildcard src/pop3/*.c)
lmtp_SRC = $(wildcard src/lmtp/*.c)
delivery_SRC = $(wildcard src/delivery/*.c)
daemon_SRC = $(wildcard src/daemon/*.c)
cli_SRC = $(wildcard src/cli/*.c)

obj = $(patsubst src/%.c,$(BUILD)/obj/%.o,$(1))
# Link order: most dependent first.
LAYER_LIBS = $(BUILD)/libimap.a $(BUILD)/libpop3.a $(BUILD)/liblmtp.a $(BUILD)/libdelivery.a $(BUILD)/libaccess.a $(BUILD)/libauth.a $(BUILD)/libstorage.a \
             $(BUILD)/libmail.a $(BUILD)/libnet.a $(BUILD)/liblib.a

UNIT_SRC = $(wildcard tests/unit/test-*.c)
UNIT_BIN = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_SRC = $(wildcard bench/*.c)

.PHONY: all run test test-unit test-sanitize bench install clean deps deps-run
all: $(BUILD)/dariusd $(BUILD)/darius

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -c $< -o $@

define layer_rule
$(BUILD)/lib$(1).a: $(call obj,$($(1)_SRC))
	@mkdir -p $$(dir $$@)
	rm -f $$@
	$$(if $$^,ar rcs $$@ $$^,ar rcs $$@)
endef
$(foreach l,$(LAYERS),$(eval $(call layer_rule,$(l))))

$(BUILD)/dariusd: $(call obj,$(daemon_SRC)) $(LAYER_LIBS)
	$(CC) $(LDFLAGS_ALL) -o $@ $(call obj,$(daemon_SRC)) $(LAYER_LIBS) $(LIBS)

$(BUILD)/darius: $(call obj,$(cli_SRC)) $(LAYER_LIBS)
	$(CC) $(LDFLAGS_ALL) -o $@ $(call obj,$(cli_SRC)) $(LAYER_LIBS) $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(LAYER_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit $(LDFLAGS_ALL) -o $@ $< $(LAYER_LIBS) $(LIBS)

$(BUILD)/dariusbench: $(BENCH_SRC) $(LAYER_LIBS)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $(BENCH_SRC) $(LAYER_LIBS) $(LIBS)

# Install missing Debian 12 packages: deps-run only what building and running
# needs, deps also the test clients and Postfix (used by test and CI).
deps:
	@sh tools/install-deps.sh test

deps-run:
	@sh tools/install-deps.sh run

run: deps-run all
	@sh tools/run.sh

# The whole suite: unit + protocol tests on a normal build, then all of it
# again under ASan+UBSan in build-san/. tools/test.sh prints the summary.
test: deps
	@sh tools/test.sh

test-unit: $(UNIT_BIN)
	@sh tools/run-unit.sh $(BUILD)

bench: deps-run all $(BUILD)/dariusbench
	@sh tools/bench.sh $(BUILD)

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BUILD)/dariusd $(DESTDIR)$(PREFIX)/sbin/dariusd
	install -m 755 $(BUILD)/darius $(DESTDIR)$(PREFIX)/bin/darius

clean:
	rm -rf build build-san build-clang

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
