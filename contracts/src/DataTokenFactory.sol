// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import "@openzeppelin/contracts/proxy/Clones.sol";
import "./IDataToken.sol";

/// @title DataTokenFactory
/// @notice Creates datatokens as EIP-1167 minimal proxies of one DataToken template.
contract DataTokenFactory {
    address public immutable template;

    event TokenCreated(
        address indexed token,
        address indexed template,
        string name,
        string symbol,
        address indexed owner
    );

    constructor(address template_) {
        require(template_ != address(0), "DataTokenFactory: no template");
        template = template_;
    }

    /// @notice Creates a datatoken whose minter (publisher) is the caller.
    function createToken(string calldata name_, string calldata symbol_, uint256 cap_) external returns (address token) {
        token = Clones.clone(template);
        IDataToken(token).initialize(name_, symbol_, msg.sender, cap_);
        emit TokenCreated(token, template, name_, symbol_, msg.sender);
    }
}
