# Darius build.
#
#   make            build build/dariusd and build/darius
#   make run        install missing packages, build, start on the embedded config
#   make test       build and run every test (normal build, then ASan+UBSan)
#   make bench      build and run the load generator against a fresh server
#   make test-tsan  the job pool and the off-loop paths under ThreadSanitizer
#   make fuzz       build the libFuzzer targets (tests/fuzz/) with clang into
#                   build-fuzz/fuzz/ (tests/README.md: how to run them)
#   make install PREFIX=/usr/local
#
# Layers (one-way dependencies, each a static library):
#   lib -> net, mail -> storage -> delivery; auth -> imap, pop3, lmtp -> daemon, cli
#   lib, mail -> sieve (the Sieve language; used by delivery, lmtp, cli)
# Every .c file in a layer's directory is part of that layer; adding a file
# needs no Makefile change.

CC ?= cc
PREFIX ?= /usr/local
BUILD ?= build
SAN ?=

WARN = -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CSTD = -std=c17 -D_GNU_SOURCE -pthread
OPT ?= -O2 -g
DEPFLAGS = -MMD -MP
PKGS = openssl sqlite3 zlib libargon2 icu-uc
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lssl -lcrypto -lsqlite3 -lz -largon2 -licuuc)
LIBS = $(PKG_LIBS) -lcrypt -lm -pthread

ifeq ($(SAN),1)
  OPT = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDSAN = -fsanitize=address,undefined
endif
# TSAN=1 (set by `make test-tsan`): ThreadSanitizer, for the threaded parts
# (the job pool and everything that runs on it); clang, in build-tsan/.
ifeq ($(TSAN),1)
  CC = clang
  OPT = -O1 -g -fno-omit-frame-pointer -fsanitize=thread
  LDSAN = -fsanitize=thread
endif
# FUZZ=1 (set by `make fuzz`): clang, every layer instrumented for libFuzzer
# (coverage) plus ASan+UBSan; only the fuzz targets are linked in this mode.
ifeq ($(FUZZ),1)
  CC = clang
  OPT = -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
  LDSAN = -fsanitize=fuzzer,address,undefined
endif

CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) $(PKG_CFLAGS) -Isrc -Isrc/lib -Isrc/net -Isrc/frontend -Isrc/mail -Isrc/storage -Isrc/auth -Isrc/imap -Isrc/pop3 -Isrc/lmtp -Isrc/delivery -Isrc/access -Isrc/managesieve -Isrc/sieve $(CFLAGS)
LDFLAGS_ALL = $(LDSAN) $(LDFLAGS)

LAYERS = lib net frontend mail sieve storage auth access delivery imap pop3 lmtp managesieve
lib_SRC = $(wildcard src/lib/*.c)
net_SRC = $(wildcard src/net/*.c)
frontend_SRC = $(wildcard src/frontend/*.c)
mail_SRC = $(wildcard src/mail/*.c)
sieve_SRC = $(wildcard src/sieve/*.c)
storage_SRC = $(wildcard src/storage/*.c)
auth_SRC = $(wildcard src/auth/*.c)
access_SRC = $(wildcard src/access/*.c)
imap_SRC = $(wildcard src/imap/*.c)
pop3_SRC = $(wildcard src/pop3/*.c)
lmtp_SRC = $(wildcard src/lmtp/*.c)
managesieve_SRC = $(wildcard src/managesieve/*.c)
delivery_SRC = $(wildcard src/delivery/*.c)
daemon_SRC = $(wildcard src/daemon/*.c)
cli_SRC = $(wildcard src/cli/*.c)

obj = $(patsubst src/%.c,$(BUILD)/obj/%.o,$(1))
# Link order: most dependent first.
LAYER_LIBS = $(BUILD)/libmanagesieve.a $(BUILD)/libimap.a $(BUILD)/libpop3.a $(BUILD)/liblmtp.a $(BUILD)/libdelivery.a $(BUILD)/libaccess.a $(BUILD)/libauth.a $(BUILD)/libstorage.a \
             $(BUILD)/libsieve.a $(BUILD)/libmail.a $(BUILD)/libfrontend.a $(BUILD)/libnet.a $(BUILD)/liblib.a

UNIT_SRC = $(wildcard tests/unit/test-*.c)
UNIT_BIN = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_SRC = $(wildcard bench/*.c)

# libFuzzer targets: tests/fuzz/fuzz-NAME.c -> $(BUILD)/fuzz/fuzz-NAME, each
# linked with tests/fuzz/support.c. --wrap=password_verify replaces the
# (deliberately slow) password hash check by support.c's constant-time
# stand-in, so the session and SASL targets spend their time in the parsers.
FUZZ_BUILD ?= build-fuzz
FUZZ_SRC = $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_BIN = $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))

.PHONY: all run test test-tsan test-unit test-sanitize bench install clean deps deps-run fuzz fuzz-targets
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

# The fuzz targets need FUZZ=1 (clang, instrumented layers): `make fuzz`
# builds them in their own build directory, never touching build/.
fuzz:
	@$(MAKE) --no-print-directory FUZZ=1 BUILD=$(FUZZ_BUILD) fuzz-targets

fuzz-targets: $(FUZZ_BIN)

$(BUILD)/fuzz/support.o: tests/fuzz/support.c tests/fuzz/support.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/fuzz -c $< -o $@

$(BUILD)/fuzz/fuzz-%: tests/fuzz/fuzz-%.c tests/fuzz/support.h $(BUILD)/fuzz/support.o $(LAYER_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/fuzz $(LDFLAGS_ALL) -Wl,--wrap=password_verify -o $@ $< \
	    $(BUILD)/fuzz/support.o $(LAYER_LIBS) $(LIBS)

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

# The threaded parts under ThreadSanitizer (also run by `make test`).
test-tsan:
	@sh tools/test-tsan.sh

test-unit: $(UNIT_BIN)
	@sh tools/run-unit.sh $(BUILD)

bench: deps-run all $(BUILD)/dariusbench
	@sh tools/bench.sh $(BUILD)

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BUILD)/dariusd $(DESTDIR)$(PREFIX)/sbin/dariusd
	install -m 755 $(BUILD)/darius $(DESTDIR)$(PREFIX)/bin/darius

clean:
	rm -rf build build-san build-clang build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
