# odscope - last-layer outlier dimensions of language models.
#   make          build ./odscope
#   make deps     install the Debian packages the build and tests need
#   make demo     run the main job on the bundled synthetic demo
#   make check    run every test (prints "N passed, N failed" last)
#   make bench    performance figures
#   make asan     build + test with address/undefined sanitizers
#   make valgrind run the unit tests under valgrind
#   make fuzz     replay the fuzz corpora through the parsers
#   make format   clang-format the sources

CC      ?= cc
PKGS    := sqlite3 libcjson libpcre2-8 openblas
PYTHON  := /usr/bin/python3
DEB_PKGS := build-essential pkg-config libsqlite3-dev libcjson-dev libpcre2-dev libopenblas-dev \
	sqlite3 python3-numpy python3-torch \
	python3-pandas python3-matplotlib python3-pil python3-nbformat python3-ipykernel jupyter-nbconvert \
	chromium texlive-latex-base texlive-latex-recommended

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
OPT     ?= -O3 -march=native
SANITIZE ?=
ifneq ($(SANITIZE),)
  SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
endif
ifneq ($(CI),)
  WERROR := -Werror
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  += -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) $(WERROR) -fopenmp -Iinclude -Isrc $(PKG_CFLAGS) $(SANFLAGS)
LDLIBS  += $(PKG_LIBS) -lm -fopenmp $(SANFLAGS)

B       := build$(if $(SANITIZE),-san)
LIB_SRC := $(wildcard src/*/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(B)/tests/%)
BIN     := odscope$(if $(SANITIZE),-san)

.PHONY: all deps deps-check demo check bench asan valgrind fuzz format clean notebooks

all: $(BIN) $(TEST_BIN) $(B)/bench

$(B)/%.o: %.c $(wildcard include/odscope/*.h src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The schema is compiled into the binary from db/schema.sql.
$(B)/schema.inc: db/schema.sql
	@mkdir -p $(B)
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $< > $@

$(B)/src/store/db.o: $(B)/schema.inc
$(B)/src/store/db.o: CFLAGS += -I$(B)
# the portable kernels of smx.c: let GCC fuse multiply-adds (-std=c11 forbids it by default)
$(B)/src/ops/smx.o: CFLAGS += -ffp-contract=fast
# the clamps of fastmath.h's exps become vector selects only if a comparison may run
# unconditionally; without AVX-512's masks GCC refuses that while FP compares may trap, and
# left those loops scalar (nothing reads the FP exception flags; no value changes)
$(B)/src/ops/smx.o $(B)/src/ops/ops.o $(B)/src/analysis/ablate.o: CFLAGS += -fno-trapping-math

$(B)/libodscope.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BIN): $(B)/src/main.o $(B)/libodscope.a
	$(CC) -o $@ $^ $(LDLIBS)

$(B)/tests/%: tests/unit/%.c tests/unit/t.h $(B)/libodscope.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libodscope.a $(LDLIBS)

$(B)/bench: tests/bench.c $(B)/libodscope.a
	$(CC) $(CFLAGS) -o $@ $< $(B)/libodscope.a $(LDLIBS)

# Install the build and test dependencies (Debian). As root this runs apt-get;
# otherwise it prints the exact command.
deps:
	@if [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEB_PKGS); \
	else \
		echo "run as root: apt-get install -y $(DEB_PKGS)"; exit 1; \
	fi

# Install only when something is missing.
deps-check:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "missing packages:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory deps; \
		else echo "run as root: apt-get install -y$$missing"; exit 1; fi; \
	fi
	@# the JavaScript HF tokenizers, a second reference for the tokenizer tests
	@if command -v npm >/dev/null && { [ ! -d tests/npm/node_modules/@huggingface/tokenizers ] || \
		[ ! -d tests/npm/node_modules/@anush008/tokenizers ]; }; then \
		npm install --prefix tests/npm --no-audit --no-fund >/dev/null 2>&1 || \
		echo "npm install failed: the tokenizer cross-check will report SKIP"; \
	fi

demo: deps-check
	@$(MAKE) --no-print-directory $(BIN)
	@sh tests/demo.sh

check: deps-check
	@$(MAKE) --no-print-directory all
	@$(PYTHON) tests/run.py

bench: deps-check
	@$(MAKE) --no-print-directory all
	@$(B)/bench

asan:
	@$(MAKE) --no-print-directory SANITIZE=address,undefined OPT=-O1 all
	@ODSCOPE=./odscope-san BUILD=build-san ASAN_OPTIONS=detect_leaks=1 $(PYTHON) tests/run.py

# valgrind does not know every AVX-512 instruction: build without -march=native, apart.
valgrind:
	@$(MAKE) --no-print-directory B=build-vg OPT="-O1 -march=x86-64-v3" $(TEST_SRC:tests/unit/%.c=build-vg/tests/%)
	@for t in $(TEST_SRC:tests/unit/%.c=build-vg/tests/%); do echo "== $$t"; \
		OMP_NUM_THREADS=1 valgrind -q --error-exitcode=1 --leak-check=full --suppressions=tests/valgrind.supp $$t >/dev/null || exit 1; done; \
		echo "valgrind: clean"

fuzz: all
	@$(PYTHON) tests/run.py fuzz

format:
	clang-format -i src/*.c src/*/*.c include/odscope/*.h tests/unit/*.c

clean:
	rm -rf build build-san build-vg odscope odscope-san

# Execute the notebooks headless on the demo database (made first if missing):
# HTML in notebooks/out/, PNG figures in notebooks/out/figures/.
NB_OUT := notebooks/out
notebooks: $(BIN)
	@[ -f db/demo.sqlite ] || sh tests/demo.sh
	@rm -rf $(NB_OUT) && mkdir -p $(NB_OUT)/figures
	ODSCOPE_DB=$(CURDIR)/db/demo.sqlite ODSCOPE_FIGDIR=$(CURDIR)/$(NB_OUT)/figures \
		jupyter nbconvert --to html --execute notebooks/*.ipynb --output-dir $(NB_OUT)
	@for f in $(NB_OUT)/figures/*.png; do [ -s "$$f" ] || { echo "empty figure $$f"; exit 1; }; done
	@echo "notebooks: $$(ls $(NB_OUT)/*.html | wc -l) executed, $$(ls $(NB_OUT)/figures/*.png | wc -l) figures in $(NB_OUT)/figures"
