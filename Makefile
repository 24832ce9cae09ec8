# Everyday commands; each one is a script you can also run directly.
.PHONY: run test lint fmt bench migrate superuser

PYTHON := .venv/bin/python
RUFF := .venv/bin/ruff

run:  ## install what is missing, migrate, run web + Celery worker + beat
	scripts/run.sh

test:  ## ruff, the migrations check and the suite on MariaDB and SQLite (ARGS= for pytest)
	scripts/test.sh $(ARGS)

lint:
	$(RUFF) check . && $(RUFF) format --check .

fmt:  ## fix what ruff can fix, then format (ruff's advice: fixes first, formatter last)
	$(RUFF) check --fix --exit-zero .
	$(RUFF) format .

bench:
	$(PYTHON) bench/run.py

migrate:
	$(PYTHON) manage.py migrate

superuser:
	$(PYTHON) manage.py createsuperuser
