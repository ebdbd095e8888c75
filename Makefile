# stategraph: PGXS build. `make && make install`, then the test targets below.

EXTENSION = stategraph
MODULE_big = stategraph
OBJS = src/stategraph.o src/json.o src/graph.o src/channel.o src/checkpoint.o \
       src/executor.o src/run.o src/history.o src/branch.o src/retention.o src/draw.o
DATA = sql/stategraph--0.1.0.sql
PGFILEDESC = "stategraph - LangGraph state graphs and checkpointer inside PostgreSQL"

REGRESS = basics
REGRESS_OPTS = --inputdir=. --outputdir=test/results

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
SERVER_INCLUDES := $(shell $(PG_CONFIG) --includedir-server 2>/dev/null)
# server headers as system headers, so that -Wextra judges only our code
PG_CPPFLAGS = -isystem $(SERVER_INCLUDES)
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter

ifneq ($(PGXS),)
include $(PGXS)
endif
