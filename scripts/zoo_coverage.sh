#!/usr/bin/env bash
# Short-budget rows for the zoo pairs the packaged experiments do not cover (docs/RESULTS.md,
# "Every pair that runs"). Budgets are small and stated; seeds 1-2. Each line is one sweep.
#   bash scripts/zoo_coverage.sh [OUT_DIR]   (default runs/zoo_coverage)
#   python scripts/zoo_results.py runs/zoo_coverage
set -euo pipefail
OUT=${1:-runs/zoo_coverage}
J="hydra/launcher=joblib hydra.launcher.n_jobs=1 progress=false seed=1,2"
# meta-RL maze: the SB3 baselines at 200k steps (SB3 defaults; 8 envs)
snnrl train -m agent=ppo,a2c,dqn,recurrent_ppo,popsan_ppo env=maze train.env_steps=200000 \
  train.num_envs=8 eval.episodes=16 $J hydra.sweep.dir=$OUT/maze 'hydra.sweep.subdir=${agent.name}/s${seed}'
# Ant: PPO-family and recurrent agents at 50k steps (8 envs; recurrent agents PPO, 25-step windows)
snnrl train -m agent=ppo,a2c,recurrent_ppo,popsan_ppo env=ant train.env_steps=50000 \
  train.num_envs=8 eval.episodes=4 $J hydra.sweep.dir=$OUT/ant 'hydra.sweep.subdir=${agent.name}/s${seed}'
snnrl train -m agent=lstm,rnn,stpn,stpn_snn env=ant agent.algo=ppo agent.n_steps=25 \
  train.env_steps=50000 train.num_envs=8 eval.episodes=4 $J hydra.sweep.dir=$OUT/ant \
  'hydra.sweep.subdir=${agent.name}/s${seed}'
