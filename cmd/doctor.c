#include "cmd/cli.h"

#include "base/banned.h"

int cmd_doctor(struct kvz_cli *cli, int argc, char **argv)
{
    return kvz_out_not_implemented(cli, "doctor");
}
