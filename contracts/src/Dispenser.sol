// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import "./IDataToken.sol";

/// @title Dispenser
/// @notice Gives datatokens away for free, within limits the datatoken's minter sets: at most
/// `maxTokens` per request, and never more than `maxBalance` to one address in all (counted as
/// dispensed, so moving tokens away does not make room for more; one person with many
/// addresses is beyond what a contract can see).
/// The dispenser mints, so the minter must first grant it the minter role on the datatoken.
contract Dispenser {
    struct Settings {
        bool active;
        uint120 maxTokens;
        uint120 maxBalance;
    }

    mapping(address => Settings) private _settings;
    mapping(address => mapping(address => uint256)) private _dispensed;

    event Activated(address indexed dataToken, uint256 maxTokens, uint256 maxBalance);
    event Deactivated(address indexed dataToken);
    event Dispensed(address indexed dataToken, address indexed to, uint256 amount);

    modifier onlyMinterOf(address dataToken) {
        require(IDataToken(dataToken).minter() == msg.sender, "Dispenser: caller is not the datatoken minter");
        _;
    }

    function activate(address dataToken, uint256 maxTokens, uint256 maxBalance) external onlyMinterOf(dataToken) {
        require(maxTokens != 0 && maxTokens <= type(uint120).max, "Dispenser: invalid maxTokens");
        require(maxBalance >= maxTokens && maxBalance <= type(uint120).max, "Dispenser: invalid maxBalance");
        require(IDataToken(dataToken).isMinter(address(this)), "Dispenser: not allowed to mint this datatoken");
        _settings[dataToken] = Settings(true, uint120(maxTokens), uint120(maxBalance));
        emit Activated(dataToken, maxTokens, maxBalance);
    }

    function deactivate(address dataToken) external onlyMinterOf(dataToken) {
        _settings[dataToken].active = false;
        emit Deactivated(dataToken);
    }

    function status(address dataToken) external view returns (bool active, uint256 maxTokens, uint256 maxBalance) {
        Settings memory s = _settings[dataToken];
        return (s.active, s.maxTokens, s.maxBalance);
    }

    /// @notice How much of `dataToken` this dispenser has given `account` so far.
    function dispensed(address dataToken, address account) external view returns (uint256) {
        return _dispensed[dataToken][account];
    }

    /// @notice Mints `amount` datatokens to the caller.
    function dispense(address dataToken, uint256 amount) external {
        Settings memory s = _settings[dataToken];
        require(s.active, "Dispenser: not active");
        require(amount != 0, "Dispenser: amount is zero");
        require(amount <= s.maxTokens, "Dispenser: amount above maxTokens");
        uint256 total = _dispensed[dataToken][msg.sender] + amount;
        require(total <= s.maxBalance, "Dispenser: would exceed maxBalance for this address");
        _dispensed[dataToken][msg.sender] = total;
        emit Dispensed(dataToken, msg.sender, amount); // before the call out: no reentrancy window
        IDataToken(dataToken).mint(msg.sender, amount);
    }
}
