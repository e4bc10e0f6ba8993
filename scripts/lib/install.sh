# Helpers that install what scripts need, only when it is missing. Sourced, not run.

# ensure_debian_packages PACKAGE...: apt-get installs the packages that dpkg does not list.
ensure_debian_packages() {
    local missing=()
    local package
    for package in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$package")
        fi
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    echo "installing Debian packages: ${missing[*]}"
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# ensure_rust_components COMPONENT...: rustup adds toolchain components that are missing.
ensure_rust_components() {
    local component
    for component in "$@"; do
        case "$component" in
            rustfmt) cargo fmt --version >/dev/null 2>&1 && continue ;;
            clippy) cargo clippy --version >/dev/null 2>&1 && continue ;;
        esac
        rustup component add "$component"
    done
}

# ensure_python_venv PACKAGE_SPEC...: creates ./.venv when missing and pip-installs the specs
# that are not installed yet. Prints nothing when everything is there.
ensure_python_venv() {
    local venv="$repo_root/.venv"
    if [[ ! -x "$venv/bin/python" ]]; then
        echo "creating Python virtualenv in $venv"
        python3 -m venv "$venv"
    fi
    local missing=()
    local spec
    for spec in "$@"; do
        if ! "$venv/bin/python" -m pip show -q "${spec%%[=<>]*}" >/dev/null 2>&1; then
            missing+=("$spec")
        fi
    done
    if ((${#missing[@]} > 0)); then
        echo "installing Python packages: ${missing[*]}"
        "$venv/bin/python" -m pip install -q "${missing[@]}"
    fi
}
