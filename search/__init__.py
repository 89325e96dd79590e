"""nasnet_search: RL-driven neural architecture search on keras-tuner.

Public API:
- spaces: `NASNetSearchSpace` (NASNet, ENAS, PNAS, NASNet-B/C styles), `MacroSearchSpace`
  (Zoph & Le 2017), `RecurrentCellSearchSpace` (Zoph & Le 2017's recurrent cells, with
  `recurrent_reward`, the paper's 80 / perplexity ** 2), `Decision`
- oracles: `RLOracle` (REINFORCE / PPO controller), `RandomOracle`, `EvolutionOracle`,
  `RLSettings`, `rl_settings`, `Reward`
- tuner: `NASTuner` (keras-tuner's Tuner arguments; hyperparameters beyond the
  architecture, e.g. a learning rate, are searched by every oracle:
  `nasnet_search.hyperparameters`)
- results: `load_results`, `write_report`
- synthetic landscapes for comparing strategies: `SyntheticLandscape`, `simulate`
- distributed search on keras-tuner's chief/worker mode: `launch` (a chief and K workers
  on this machine); the serving loop, leases and retries live in `nasnet_search.distributed`
- weight sharing (ENAS): `WeightSharingTuner` (any of the oracles above scores paths through
  one `Supernet`; ``supernet.extract(genotype)`` gives the plain child with the inherited
  weights)
- command line: ``nasnet-search run | resume | export | report`` (``--workers K``,
  ``--recycle-every N``); exit status 0 on success
"""

__version__ = "0.1.0"

from nasnet_search.decisions import Decision
from nasnet_search.space import SearchSpace, space_from_config
from nasnet_search.nasnet_space import ENAS_OPERATIONS, PNAS_OPERATIONS, NASNetSearchSpace
from nasnet_search.macro_space import MacroArchitecture, MacroLayer, MacroSearchSpace
from nasnet_search.recurrent_space import RecurrentCellSearchSpace, recurrent_reward
from nasnet_search.rewards import Reward
from nasnet_search.algorithms import RLSettings, rl_settings
from nasnet_search.oracles import EvolutionOracle, NASOracle, RandomOracle
from nasnet_search.rl_oracle import RLOracle
from nasnet_search.tuner import NASTuner
from nasnet_search.results import load_results
from nasnet_search.report import write_report
from nasnet_search.synthetic import SyntheticLandscape, SyntheticTuner, simulate
from nasnet_search.distributed import launch
from nasnet_search.supernet import Supernet
from nasnet_search.weight_sharing import WeightSharingTuner

__all__ = [
    "Decision", "ENAS_OPERATIONS", "EvolutionOracle", "MacroArchitecture", "MacroLayer",
    "MacroSearchSpace", "NASNetSearchSpace", "NASOracle", "NASTuner", "PNAS_OPERATIONS",
    "RLOracle", "RLSettings", "RandomOracle", "Reward", "SearchSpace", "SyntheticLandscape",
    "SyntheticTuner", "load_results", "rl_settings", "simulate", "space_from_config",
    "write_report", "launch", "Supernet", "WeightSharingTuner", "RecurrentCellSearchSpace",
    "recurrent_reward",
]
