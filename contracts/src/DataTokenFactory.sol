// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import "@openzeppelin/contracts/proxy/Clones.sol";
import "./IDataToken.sol";

/// @title DataTokenFactory
/// @notice Creates datatokens as EIP-1167 minimal proxies of one DataToken template.
contract DataTokenFactory {
    address public immutable template;
    /// @notice The datatokens this factory made: Metadata publishes DDOs for those only.
    mapping(address => bool) public isDataToken;

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
        isDataToken[token] = true;
        emit TokenCreated(token, template, name_, symbol_, msg.sender); // before the call out
        IDataToken(token).initialize(name_, symbol_, msg.sender, cap_);
    }
}
