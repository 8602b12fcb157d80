// One function per subcommand: each cli/cmd_<name>.cpp registers its flags and a callback
// that parses, builds, runs and prints. Errors are thrown as mosaic::Error and printed by main.
#pragma once

namespace CLI {
class App;
}

namespace mosaic {

void add_check_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_prepare_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_sample_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_three_moons_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_attention_command(CLI::App& app);
void add_regbench_command(CLI::App& app);
void add_many_shot_command(CLI::App& app);
void add_serve_command(CLI::App& app);

}  // namespace mosaic
