module github.com/aigw/aigw-go

go 1.19
