# Everyday commands; each one is a script you can also run directly.
.PHONY: run test lint fmt bench soak migrate superuser

PYTHON := .venv/bin/python
RUFF := .venv/bin/ruff
MYPY := .venv/bin/mypy

run:  ## install what is missing, migrate, run web + Celery worker + beat
	scripts/run.sh

test:  ## ruff, mypy, the prose check, the migrations check and the suite on MariaDB and SQLite (ARGS= for pytest)
	scripts/test.sh $(ARGS)

lint:
	$(RUFF) check . && $(RUFF) format --check . && $(MYPY) && $(PYTHON) scripts/check_prose.py

fmt:  ## fix what ruff can fix, then format (ruff's advice: fixes first, formatter last)
	$(RUFF) check --fix --exit-zero .
	$(RUFF) format .

bench:
	$(PYTHON) bench/run.py

# The history checker on more seeds than CI's: SEEDS=50 runs seeds 1 to 50, SEEDS=7-9 or
# SEEDS=3,8,21 those (~45 s each), on a standalone Redis and on a Redis Cluster (one of them:
# ARGS='-k "not cluster"' or ARGS='-k cluster'). It starts its own mariadbd and redis-servers;
# DATABASE_URL only has to name a MySQL/MariaDB (on SQLite the checker skips itself), and
# nothing is written to it.
SEEDS ?= 10
DATABASE_URL ?= mysql://root@127.0.0.1:3306/test
soak:  ## the history checker (tests/history) on SEEDS seeds, with a table at the end
	DATABASE_URL="$(DATABASE_URL)" HISTORY_SEEDS="$(SEEDS)" $(PYTHON) -m pytest tests/history $(ARGS)

migrate:
	$(PYTHON) manage.py migrate

superuser:
	$(PYTHON) manage.py createsuperuser
