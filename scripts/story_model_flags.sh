# Sourced by the story-model scripts (train_story_models.sh, depth_sweep.sh): the training flags
# of each story model by name, all of one size (configs/tinystories_*.json). Sets the array
# `flags`; an unknown name is an error with a hint (returns 1).
#   source scripts/story_model_flags.sh; story_model_flags gpt_rope || exit 1
story_model_flags() {
  case "$1" in
    mosaic) flags=(-c configs/tinystories_mosaic.json) ;;
    gpt) flags=(-c configs/tinystories_gpt.json) ;;
    gpt_rope) flags=(-c configs/tinystories_gpt.json --pos_encoding rope) ;;
    gpt_alibi) flags=(-c configs/tinystories_gpt.json --pos_encoding alibi) ;;
    mosaic_v2) flags=(-c configs/tinystories_mosaic_v2.json) ;;
    v2_no_long) flags=(-c configs/tinystories_mosaic_v2.json --long_term_delay_max 0) ;;
    v2_fixed_m) flags=(-c configs/tinystories_mosaic_v2.json --long_term_delay_max 16) ;;
    v2_fixed_beta) flags=(-c configs/tinystories_mosaic_v2.json --adaptive_bandwidth false) ;;
    v2_v1_keys) flags=(-c configs/tinystories_mosaic_v2.json --key_gate false) ;;
    *) echo "error: unknown model '$1'" >&2
       echo "hint: mosaic, gpt, gpt_rope, gpt_alibi, mosaic_v2, v2_no_long, v2_fixed_m, v2_fixed_beta or v2_v1_keys" >&2
       return 1 ;;
  esac
}
