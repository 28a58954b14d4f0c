module k8s-isolation-audit/tests/images/pause

go 1.21
