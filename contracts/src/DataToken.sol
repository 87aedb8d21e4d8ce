// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import "./IDataToken.sol";

/// @title DataToken
/// @notice ERC20 datatoken: holding one lets its holder order a service of the asset it belongs to.
/// The same code serves as a stand-alone token (constructor with a minter) and as the template
/// that DataTokenFactory clones (constructor with minter = 0: the template itself stays locked).
///
/// Storage is laid out for cheap first writes: the minter, the initialised flag and the market fee
/// share one slot, and the total supply shares a slot with the cap, so the first mint only turns
/// a non-zero slot into another non-zero value. The community fee collector is an immutable of the
/// template, which every clone reads from the template's code.
contract DataToken is IDataToken {
    /// @notice Share of every order that goes to the community fee collector: 0.1 %.
    uint256 public constant COMMUNITY_FEE_BPS = 10;
    /// @notice Highest market fee a minter may set: 10 %.
    uint256 public constant MAX_MARKET_FEE_BPS = 1000;
    uint256 private constant BPS = 10_000;

    address public immutable communityFeeCollector;

    // slot 0
    address private _minter;
    bool private _initialized;
    uint16 private _marketFeeBps;
    // slot 1
    uint128 private _totalSupply;
    uint128 private _cap;
    // slot 2: who receives the market fee; set by the minter, never by the payer
    address private _marketFeeCollector;

    string private _name;
    string private _symbol;

    mapping(address => uint256) private _balances;
    mapping(address => mapping(address => uint256)) private _allowances;
    mapping(address => bool) private _extraMinters;

    modifier onlyMinter() {
        require(msg.sender == _minter, "DataToken: caller is not the minter");
        _;
    }

    constructor(
        address communityFeeCollector_,
        string memory name_,
        string memory symbol_,
        address minter_,
        uint256 cap_
    ) {
        require(communityFeeCollector_ != address(0), "DataToken: no community fee collector");
        communityFeeCollector = communityFeeCollector_;
        if (minter_ == address(0)) {
            _initialized = true; // template: nobody can take it over
        } else {
            _init(name_, symbol_, minter_, cap_);
        }
    }

    /// @notice Sets up a clone. Callable once; the factory calls it in the same transaction
    /// that creates the clone.
    function initialize(string calldata name_, string calldata symbol_, address minter_, uint256 cap_) external {
        _init(name_, symbol_, minter_, cap_);
    }

    function _init(string memory name_, string memory symbol_, address minter_, uint256 cap_) private {
        require(!_initialized, "DataToken: already initialized");
        require(minter_ != address(0), "DataToken: minter is the zero address");
        require(cap_ != 0 && cap_ <= type(uint128).max, "DataToken: invalid cap");
        _minter = minter_;
        _initialized = true;
        _cap = uint128(cap_);
        _name = name_;
        _symbol = symbol_;
    }

    // ---- ERC20 ----

    function name() external view returns (string memory) {
        return _name;
    }

    function symbol() external view returns (string memory) {
        return _symbol;
    }

    function decimals() external pure returns (uint8) {
        return 18;
    }

    function totalSupply() external view returns (uint256) {
        return _totalSupply;
    }

    function balanceOf(address account) external view returns (uint256) {
        return _balances[account];
    }

    function allowance(address owner, address spender) external view returns (uint256) {
        return _allowances[owner][spender];
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        _approve(msg.sender, spender, amount);
        return true;
    }

    /// @notice Raises an allowance by `added`: unlike approve, no race with a spender that
    /// spends the old allowance between two approvals.
    function increaseAllowance(address spender, uint256 added) external returns (bool) {
        _approve(msg.sender, spender, _allowances[msg.sender][spender] + added);
        return true;
    }

    /// @notice Lowers an allowance by `subtracted` (reverts below zero).
    function decreaseAllowance(address spender, uint256 subtracted) external returns (bool) {
        uint256 current = _allowances[msg.sender][spender];
        require(current >= subtracted, "DataToken: allowance below zero");
        unchecked {
            _approve(msg.sender, spender, current - subtracted);
        }
        return true;
    }

    function _approve(address owner, address spender, uint256 amount) private {
        require(spender != address(0), "DataToken: approve to the zero address");
        _allowances[owner][spender] = amount;
        emit Approval(owner, spender, amount);
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _debit(msg.sender, amount);
        _credit(msg.sender, to, amount);
        return true;
    }

    /// @dev An allowance of type(uint256).max is never decreased (the usual ERC20 convention).
    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = _allowances[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= amount, "DataToken: insufficient allowance");
            unchecked {
                _allowances[from][msg.sender] = allowed - amount;
            }
        }
        _debit(from, amount);
        _credit(from, to, amount);
        return true;
    }

    // ---- minting ----

    function minter() external view returns (address) {
        return _minter;
    }

    function cap() external view returns (uint256) {
        return _cap;
    }

    function isMinter(address account) public view returns (bool) {
        return account == _minter || _extraMinters[account];
    }

    /// @notice Lets another account (a Dispenser, say) mint too, or takes that right back.
    function setMinterRole(address account, bool allowed) external onlyMinter {
        require(account != address(0), "DataToken: minter role for the zero address");
        _extraMinters[account] = allowed;
        emit MinterRoleChanged(account, allowed);
    }

    function mint(address to, uint256 amount) external {
        require(isMinter(msg.sender), "DataToken: caller is not a minter");
        require(to != address(0), "DataToken: mint to the zero address");
        uint256 supply = uint256(_totalSupply) + amount;
        require(supply <= _cap, "DataToken: cap exceeded");
        _totalSupply = uint128(supply);
        unchecked {
            _balances[to] += amount; // cannot overflow: bounded by the cap
        }
        emit Transfer(address(0), to, amount);
    }

    // ---- orders ----

    function marketFeeBps() external view returns (uint256) {
        return _marketFeeBps;
    }

    function marketFeeCollector() external view returns (address) {
        return _marketFeeCollector;
    }

    /// @notice The share (basis points) of each order that goes to the market, and the market's
    /// fee collector: the minter's choice (a payer naming itself would pay the fee to itself).
    /// A zero collector means no market fee.
    function setMarketFee(uint256 feeBps, address collector) external onlyMinter {
        require(feeBps <= MAX_MARKET_FEE_BPS, "DataToken: market fee above maximum");
        require(feeBps == 0 || collector != address(0), "DataToken: a market fee needs a collector");
        _marketFeeBps = uint16(feeBps);
        _marketFeeCollector = collector;
        emit MarketFeeChanged(feeBps, collector);
    }

    /// @notice Pays for one use of service `serviceId` on behalf of `consumer`. The community fee
    /// goes to the community fee collector, the market fee to the token's market fee collector
    /// (`feeCollector` must name it: the payer cannot choose where the fee goes), the rest to
    /// the minter.
    function startOrder(address consumer, uint256 amount, uint256 serviceId, address feeCollector) external {
        require(consumer != address(0), "DataToken: consumer is the zero address");
        require(amount != 0, "DataToken: order amount is zero");
        require(feeCollector == _marketFeeCollector, "DataToken: not this token's market fee collector");
        uint256 communityFee = (amount * COMMUNITY_FEE_BPS) / BPS;
        uint256 marketFee = feeCollector == address(0) ? 0 : (amount * _marketFeeBps) / BPS;
        _debit(msg.sender, amount);
        if (communityFee != 0) _credit(msg.sender, communityFeeCollector, communityFee);
        if (marketFee != 0) _credit(msg.sender, feeCollector, marketFee);
        _credit(msg.sender, _minter, amount - communityFee - marketFee);
        emit OrderStarted(consumer, msg.sender, amount, serviceId, block.timestamp, feeCollector, marketFee);
    }

    // A transfer is one debit of the sender and one or more credits, so an order with fees
    // writes the payer's balance once.
    function _debit(address from, uint256 amount) private {
        uint256 balance = _balances[from];
        require(balance >= amount, "DataToken: insufficient balance");
        unchecked {
            _balances[from] = balance - amount;
        }
    }

    function _credit(address from, address to, uint256 amount) private {
        require(to != address(0), "DataToken: transfer to the zero address");
        unchecked {
            _balances[to] += amount; // cannot overflow: total supply is at most the cap
        }
        emit Transfer(from, to, amount);
    }
}
