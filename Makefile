# stategraph: PGXS build. `make && make install`, then the test targets below.

EXTENSION = stategraph
MODULE_big = stategraph
# every C file of src/ is part of the module (one concern per file)
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA = sql/stategraph--0.1.0.sql sql/stategraph--0.1.0--0.2.0.sql \
       router/stategraph_router.control router/stategraph_router--0.2.0.sql
PGFILEDESC = "stategraph - LangGraph state graphs and checkpointer inside PostgreSQL"

# pg_regress: sql/<name>.sql with expected/<name>.out (the install script is not a test)
REGRESS = $(sort $(patsubst sql/%.sql,%,$(filter-out sql/$(EXTENSION)--%,$(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=. --outputdir=test/results
# isolation: test/specs/<name>.spec with test/expected/<name>.out
ISOLATION = $(sort $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --outputdir=test/output_iso

# make installcheck runs pg_regress and isolation on a temporary instance of
# PG_CONFIG's PostgreSQL (test/tmp_check*), configured with test/stategraph.conf
# (the preload background workers need) and test/regress.conf (no background
# sweep), as pg_cron does: it needs no running
# server, only `make install` first, and a user other than root (initdb).
# `make installcheck TEMP_INSTANCE=` runs them on the running server that
# PGHOST/PGPORT/PGUSER name instead (its postgresql.conf must preload stategraph).
TEMP_INSTANCE ?= test/tmp_check
ifneq ($(TEMP_INSTANCE),)
REGRESS_OPTS += --temp-instance=$(TEMP_INSTANCE) --temp-config=test/stategraph.conf --temp-config=test/regress.conf
ISOLATION_OPTS += --temp-instance=$(TEMP_INSTANCE)_iso --temp-config=test/stategraph.conf --temp-config=test/regress.conf
endif

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
SERVER_INCLUDES := $(shell $(PG_CONFIG) --includedir-server 2>/dev/null)
# server headers as system headers, so that -Wextra judges only our code
PG_CPPFLAGS = -isystem $(SERVER_INCLUDES)
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter

ifneq ($(PGXS),)
include $(PGXS)
endif

# SQLSTATE condition names (as PL/pgSQL knows them), for errors recorded on threads
src/sqlstates.h: $(shell $(PG_CONFIG) --sharedir 2>/dev/null)/errcodes.txt
	awk '/^[0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z][ \t]/ && NF >= 4 { printf "\t{\"%s\", \"%s\"},\n", $$1, $$4 }' $< > $@
src/executor.o src/executor.bc: src/sqlstates.h
$(OBJS): src/stategraph.h
src/lgsaver.o src/lgread.o src/lgmaint.o: src/lgsaver.h
EXTRA_CLEAN = src/sqlstates.h test/results test/output_iso test/tmp_check test/tmp_check_iso tmp_check

# make prove_installcheck: the TAP tests of test/t (PostgreSQL::Test::Cluster,
# from PG_CONFIG's installation); every cluster they create gets
# test/stategraph.conf (PostgreSQL::Test::Cluster appends TEMP_CONFIG);
# their initdb is a copy of one made once per run (test/t/SGTemplate.pm).
.PHONY: prove_installcheck
prove_installcheck: export TEMP_CONFIG = $(CURDIR)/test/stategraph.conf
prove_installcheck: export PERL5OPT = -I$(CURDIR)/test/t -MSGTemplate
prove_installcheck: PROVE_TESTS = test/t/*.pl
prove_installcheck: PG_PROVE_FLAGS += -I test/t
prove_installcheck:
	$(prove_installcheck)

# The two commands of README.md: the seed's walkthrough on a local cluster, and every test.
.PHONY: demo test
demo:
	bash test/demo.sh
test:
	bash test/run.sh
