// libyaml (Debian's libyaml-dev), whose event parser SwiftMesh's reader drives directly.
#include <yaml.h>
