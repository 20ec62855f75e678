# The two commands a new machine needs (see README): `make run` and `make test`.
.PHONY: run test stop status

run:
	deploy/local/stack up

test:
	deploy/local/stack test

stop:
	deploy/local/stack down

status:
	deploy/local/stack status

